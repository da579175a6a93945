//! `cisgate collect` stores no secret in any form (issue #12, item 4). Several hundred
//! distinct, random-looking secrets are planted in every form the issue lists into a live
//! node: real files with real modes under `--root`, real sleeper processes carrying the
//! argv and the environment (`tests/support/live_tree.rs`), and API objects listed by the
//! real kubectl from a loopback API server (`tests/support/api_server.rs`, as in
//! `tests/kubectl_api.rs`). None of their bytes may appear in the collected snapshot (as
//! written, gzip, or inflated), and the snapshot must give the live scan's verdicts — for
//! the embedded cis-1.12 and k3s-cis-1.9 and for kube-bench's own tree.

#[path = "support/api_server.rs"]
mod api_server;
#[path = "support/fake_node.rs"]
mod fake_node;
#[path = "support/live_tree.rs"]
mod live_tree;
mod support;

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::Path;
use std::sync::OnceLock;

use live_tree::{scan_snapshot, states, LiveTree};
use serde_json::{json, Value};
use support::{benchmark_fixture, copy_tree};

/// Secrets per form: with the forms below, several hundred in every test.
const PER_FORM: usize = 24;

/// Distinct random-looking secrets (a fixed xorshift, so failures reproduce).
struct Secrets {
    state: u64,
    planted: BTreeSet<String>,
}

impl Secrets {
    fn new(seed: u64) -> Self {
        Secrets {
            state: seed | 1,
            planted: BTreeSet::new(),
        }
    }

    fn next(&mut self) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        loop {
            let secret: String = (0..24)
                .map(|_| {
                    self.state ^= self.state << 13;
                    self.state ^= self.state >> 7;
                    self.state ^= self.state << 17;
                    ALPHABET[(self.state % ALPHABET.len() as u64) as usize] as char
                })
                .collect();
            if self.planted.insert(secret.clone()) {
                return secret;
            }
        }
    }

    /// `PER_FORM` lines made by `line(index, secret)`.
    fn lines(&mut self, line: impl Fn(usize, &str) -> String) -> String {
        (0..PER_FORM).map(|i| line(i, &self.next())).collect()
    }
}

fn edit(path: &Path, change: impl FnOnce(String) -> String) {
    let text = fs::read_to_string(path).unwrap_or_default();
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, change(text)).unwrap();
}

fn insert_after(text: &str, anchor: &str, insert: &str) -> String {
    let at = text
        .find(anchor)
        .unwrap_or_else(|| panic!("{anchor:?} not found"))
        + anchor.len();
    format!("{}{insert}{}", &text[..at], &text[at..])
}

/// Environment variables of every process the live node starts (`/proc/*/environ`):
/// set once in this test process, before any sleeper starts, and inherited by them all.
fn plant_environment(secrets: &mut Secrets) {
    static PLANTED: OnceLock<Vec<String>> = OnceLock::new();
    let planted = PLANTED.get_or_init(|| {
        let mut own = Secrets::new(0x0e0e_0e0e);
        let mut variables = vec![
            ("MYSQL_PWD".to_owned(), own.next()),
            (
                "DATABASE_URL".to_owned(),
                format!("postgres://app:{}@db.example:5432/app", own.next()),
            ),
        ];
        for i in 0..PER_FORM {
            variables.push((format!("APP_SECRET_TOKEN_{i}"), own.next()));
        }
        for (name, value) in &variables {
            std::env::set_var(name, value);
        }
        own.planted.into_iter().collect()
    });
    secrets.planted.extend(planted.iter().cloned());
}

/// A kubeadm control plane with secrets in its manifests, kubelet files and key files.
fn plant_kubeadm_node(root: &Path, secrets: &mut Secrets) {
    let manifest = root.join("etc/kubernetes/manifests/kube-apiserver.yaml");
    let argv = [
        secrets.lines(|i, s| format!("    - --db-password-{i}={s}\n")),
        secrets.lines(|i, s| format!("    - --password-{i}\n    - {s}\n")),
        secrets.lines(|i, s| format!("    - --token-{i}\n    - -{s}\n")),
        secrets.lines(|i, s| format!("    - DB_PASSWORD_{i}={s}\n")),
        secrets
            .lines(|i, s| format!("    - --webhook-url-{i}=https://admin:{s}@hooks.example/x\n")),
        secrets.lines(|_, s| format!("    - --certificate-key={s}\n")),
    ]
    .concat();
    let env = secrets.lines(|i, s| format!("    - name: DB_PASSWORD_{i}\n      value: {s}\n"));
    let annotations = secrets.lines(|i, s| format!("    example.com/secret-{i}: {s}\n"));
    let last_applied = format!(
        "    kubectl.kubernetes.io/last-applied-configuration: '{{\"password\":\"{}\"}}'\n",
        secrets.next()
    );
    edit(&manifest, |text| {
        let text = insert_after(&text, "    - kube-apiserver\n", &argv);
        let text = insert_after(
            &text,
            "    - --authorization-mode=Node,RBAC\n",
            "    - --encryption-provider-config=/etc/kubernetes/enc/encryption.yaml\n    - --token-auth-file=/etc/kubernetes/tokens.csv\n",
        );
        let text = insert_after(
            &text,
            "  annotations:\n",
            &format!("{last_applied}{annotations}"),
        );
        text.replace(
            "    image: registry.k8s.io/kube-apiserver",
            &format!("    env:\n{env}    image: registry.k8s.io/kube-apiserver"),
        )
    });

    let url_secret = secrets.next();
    let headers = secrets.lines(|i, s| format!("  X-Token-{i}:\n  - Bearer {s}\n"));
    edit(&root.join("var/lib/kubelet/config.yaml"), |text| {
        format!(
            "{text}staticPodURL: https://kubelet:{url_secret}@pods.example/manifests\nstaticPodURLHeader:\n{headers}"
        )
    });
    let drop_in = secrets.lines(|i, s| format!("Environment=\"KUBELET_SECRET_TOKEN_{i}={s}\"\n"));
    fs::write(
        root.join("usr/lib/systemd/system/kubelet.service.d/20-secrets.conf"),
        format!("[Service]\n{drop_in}"),
    )
    .unwrap();
    let extra_args = secrets.lines(|i, s| format!(" --registry-password-{i}={s}"));
    fs::write(
        root.join("etc/default/kubelet"),
        format!("KUBELET_EXTRA_ARGS=--node-labels=tier=cp{extra_args}\n"),
    )
    .unwrap();

    let exec_env =
        secrets.lines(|i, s| format!("      - name: AWS_SECRET_{i}\n        value: {s}\n"));
    let next_line_token = secrets.next();
    edit(&root.join("etc/kubernetes/kubelet.conf"), |text| {
        format!(
            "{text}- name: exec-user\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: aws\n      env:\n{exec_env}- name: token-user\n  user:\n    token:\n      {next_line_token}\n"
        )
    });

    let flow = secrets.lines(|i, s| format!("            - {{name: key{i}, secret: {s}}}\n"));
    let next_line_secret = secrets.next();
    let pgp = secrets.lines(|_, s| format!("                {s}\n"));
    fs::create_dir_all(root.join("etc/kubernetes/enc")).unwrap();
    fs::write(
        root.join("etc/kubernetes/enc/encryption.yaml"),
        format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources:\n      - secrets\n    providers:\n      - aescbc:\n          keys:\n{flow}            - name: next-line\n              secret:\n                {next_line_secret}\n      - secretbox:\n          keys:\n            - name: pgp\n              secret: |\n                -----BEGIN PGP PRIVATE KEY BLOCK-----\n{pgp}                -----END PGP PRIVATE KEY BLOCK-----\n      - identity: {{}}\n"
        ),
    )
    .unwrap();
    let tokens = secrets.lines(|i, s| format!("{s},user{i},uid{i},\"system:masters\"\n"));
    fs::write(root.join("etc/kubernetes/tokens.csv"), tokens).unwrap();
    let key_block = secrets.lines(|_, s| format!("{s}\n"));
    fs::write(
        root.join("etc/kubernetes/pki/backup.asc"),
        format!("-----BEGIN PGP PRIVATE KEY BLOCK-----\n{key_block}-----END PGP PRIVATE KEY BLOCK-----\n"),
    )
    .unwrap();
}

/// A k3s server whose config, drop-in and environment file hold secrets.
fn plant_k3s_node(root: &Path, secrets: &mut Secrets) {
    let endpoint = secrets.next();
    let args = secrets.lines(|i, s| format!("  - \"etcd-password-{i}={s}\"\n"));
    let flow_args = secrets.lines(|i, s| format!("\"oidc-client-secret-{i}={s}\", "));
    let tokens = secrets.lines(|i, s| format!("agent-token-{i}: {s}\n"));
    let more_args = [
        secrets.lines(|i, s| format!("  - \"service-account-token-{i}={s}\"\n")),
        secrets.lines(|i, s| format!("  - \"proxy-password-{i}={s}\"\n")),
    ];
    edit(&root.join("etc/rancher/k3s/config.yaml"), |text| {
        format!(
            "{text}\ndatastore-endpoint: postgres://k3s:{endpoint}@db.example:5432/k3s\ntoken:\n  {}\n{tokens}kube-apiserver-arg:\n{args}kube-scheduler-arg: [{flow_args}\"profiling=false\"]\nkube-controller-manager-arg:\n{}kube-proxy-arg:\n{}",
            secrets.next(),
            more_args[0],
            more_args[1],
        )
    });
    let env = secrets.lines(|i, s| format!("K3S_SECRET_{i}={s}\n"));
    edit(&root.join("etc/systemd/system/k3s.service.env"), |text| {
        format!("{text}K3S_TOKEN={}\n{env}", secrets.next())
    });
}

/// The recorded cluster of `tests/fixtures/cis-1.12/api/good`, plus pods and Secrets full of
/// secrets: env values, args, annotations, last-applied configurations, Secret data.
fn plant_cluster(dir: &Path, secrets: &mut Secrets) {
    copy_tree(&benchmark_fixture("cis-1.12/api/good"), dir);
    let pods_path = dir.join("pods.json");
    let mut pods: Value = serde_json::from_str(&fs::read_to_string(&pods_path).unwrap()).unwrap();
    let items = pods["items"].as_array_mut().unwrap();
    for i in 0..PER_FORM {
        let applied =
            json!({"spec": {"containers": [{"env": [{"name": "PW", "value": secrets.next()}]}]}});
        items.push(json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": format!("app-{i}"),
                "namespace": "default",
                "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": applied.to_string(),
                    "example.com/api-key": secrets.next(),
                },
                "labels": {"app": "web", "example.com/token": secrets.next()},
            },
            "spec": {
                "serviceAccountName": "web",
                "containers": [{
                    "name": "app",
                    "image": "registry.example/app:1.0",
                    "command": ["/app", format!("--db-password={}", secrets.next())],
                    "args": ["--password", secrets.next(), "--token", format!("-{}", secrets.next()),
                             format!("DATABASE_URL=postgres://u:{}@db/x", secrets.next())],
                    "env": [
                        {"name": "DB_PASSWORD", "value": secrets.next()},
                        {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}},
                    ],
                    "securityContext": {"allowPrivilegeEscalation": false},
                }],
            },
        }));
    }
    fs::write(&pods_path, pods.to_string()).unwrap();
    let secret_items: Vec<Value> = (0..PER_FORM)
        .map(|i| {
            json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": format!("db-{i}"), "namespace": "default",
                             "annotations": {"kubectl.kubernetes.io/last-applied-configuration": secrets.next()}},
                "type": "Opaque",
                "data": {"pw": secrets.next()},
                "stringData": {"token": secrets.next()},
            })
        })
        .collect();
    fs::write(
        dir.join("secrets.json"),
        json!({"kind": "SecretList", "apiVersion": "v1", "metadata": {}, "items": secret_items})
            .to_string(),
    )
    .unwrap();
}

/// No planted secret in the snapshot file, nor in its inflated text; what the snapshot
/// must still hold (`kept`: flag names, markers where values were) is there, so the
/// secrets were really recorded and removed, not just never asked for.
fn assert_no_secret_in(snapshot: &Path, secrets: &Secrets, kept: &[&str]) {
    let bytes = fs::read(snapshot).unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .expect("the snapshot is gzip");
    let raw = String::from_utf8_lossy(&bytes);
    assert!(
        secrets.planted.len() >= 300,
        "{} secrets planted",
        secrets.planted.len()
    );
    let leaked: Vec<&String> = secrets
        .planted
        .iter()
        .filter(|secret| text.contains(secret.as_str()) || raw.contains(secret.as_str()))
        .collect();
    assert!(
        leaked.is_empty(),
        "{} of {} planted secrets are in {}: {:?}",
        leaked.len(),
        secrets.planted.len(),
        snapshot.display(),
        leaked
            .iter()
            .map(|s| context_of(&text, s))
            .collect::<Vec<_>>()
    );
    for expected in kept {
        assert!(
            text.contains(expected),
            "{expected} is not in {}",
            snapshot.display()
        );
    }
    let snapshot: Value = serde_json::from_str(&text).unwrap();
    let applied = snapshot["redactions"]["applied"].as_array().unwrap();
    assert!(
        !applied.is_empty(),
        "redactions.applied names what lost values"
    );
    for entry in applied {
        assert!(
            names_a_stored_fact(&snapshot, entry.as_str().unwrap()),
            "redactions.applied names {entry}, which the snapshot does not hold"
        );
    }
}

/// Whether a `redactions.applied` entry (`file PATH: N values removed`) names a stored fact.
fn names_a_stored_fact(snapshot: &Value, entry: &str) -> bool {
    let (what, _) = entry.rsplit_once(": ").unwrap();
    if let Some(path) = what.strip_prefix("file ") {
        return snapshot["files"][path]["content"].is_string();
    }
    if let Some(command) = what.strip_prefix("shell `") {
        return snapshot["shell"][command.trim_end_matches('`')].is_object();
    }
    if let Some(kind) = what.strip_prefix("api ") {
        return snapshot["api"]["kinds"][kind].is_object();
    }
    let Some(process) = what.strip_prefix("process ") else {
        return false;
    };
    let pid: u64 = process.split(' ').next().unwrap().parse().unwrap();
    snapshot["processes"]
        .as_array()
        .is_some_and(|list| list.iter().any(|p| p["pid"] == pid))
}

fn context_of(text: &str, secret: &str) -> String {
    let at = text.find(secret).unwrap_or(0);
    let boundary = |mut i: usize| {
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = boundary(at.saturating_sub(80));
    let end = boundary((at + secret.len() + 20).min(text.len()));
    text[start..end].to_owned()
}

/// A copy of a benchmark's node fixture to plant secrets into.
fn fixture_copy(relative: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&benchmark_fixture(relative), dir.path());
    dir
}

#[test]
fn collect_keeps_no_planted_secret_and_gives_live_verdicts_with_cis_1_12() {
    let mut secrets = Secrets::new(0x1212_1212);
    plant_environment(&mut secrets);
    let fixture = fixture_copy("cis-1.12/nodes/kubeadm-control-plane");
    plant_kubeadm_node(fixture.path(), &mut secrets);
    let api = tempfile::tempdir().unwrap();
    plant_cluster(api.path(), &mut secrets);
    if !api_server::kubectl_installed() {
        support::missing("kubectl is not installed: API objects are not planted");
    }
    let server = api_server::RecordedApiServer::for_recorded_lists(api.path());
    let kubeconfig = server.kubeconfig(api.path());
    let kubeconfig = kubeconfig.to_str().unwrap();
    let targets = if api_server::kubectl_installed() {
        "master,etcd,node,policies"
    } else {
        "master,etcd,node"
    };
    let args = [
        "--benchmark",
        "cis-1.12",
        "--targets",
        targets,
        "--kubeconfig",
        kubeconfig,
    ];
    let tree = LiveTree::start(fixture.path());
    let live = tree.scan(&args);
    let out = tempfile::tempdir().unwrap();
    let snapshot = tree.collect(out.path(), &args);
    drop(tree);
    drop(server);
    let mut kept = vec![
        "\"--db-password-0=<removed:not-read-by-any-check>\"",
        "\"--password-0\"",
        "\"-<removed:not-read-by-any-check>\"",
        "\"DB_PASSWORD_0=<removed:not-read-by-any-check>\"",
        "\"--certificate-key=<removed:not-read-by-any-check>\"",
        "--registry-password-0=<removed:not-read-by-any-check>",
        "--encryption-provider-config=/etc/kubernetes/enc/encryption.yaml",
    ];
    if api_server::kubectl_installed() {
        kept.push("\"app-0\"");
    }
    assert_no_secret_in(&snapshot, &secrets, &kept);
    let replayed = scan_snapshot(&snapshot, &args[..4]);
    assert!(states(&live.results).len() > 100, "{}", live.stderr);
    assert_eq!(states(&replayed.results), states(&live.results));
}

#[test]
fn collect_keeps_no_planted_secret_and_gives_live_verdicts_with_k3s_cis_1_9() {
    let mut secrets = Secrets::new(0x0003_0109);
    plant_environment(&mut secrets);
    let fixture = fixture_copy("k3s-cis-1.9/nodes/k3s-server");
    plant_k3s_node(fixture.path(), &mut secrets);
    plant_kubeadm_forms_into_k3s(fixture.path(), &mut secrets);
    let args = [
        "--benchmark",
        "k3s-cis-1.9",
        "--targets",
        "master,etcd,node",
    ];
    let tree = LiveTree::start(fixture.path());
    let live = tree.scan(&args);
    let out = tempfile::tempdir().unwrap();
    let snapshot = tree.collect(out.path(), &args);
    drop(tree);
    assert_no_secret_in(
        &snapshot,
        &secrets,
        &[
            "etcd-password-0=<removed:not-read-by-any-check>",
            "\\\"profiling=false\\\"]",
        ],
    );
    let replayed = scan_snapshot(&snapshot, &args);
    assert!(states(&live.results).len() > 50, "{}", live.stderr);
    assert_eq!(states(&replayed.results), states(&live.results));
}

/// The forms a kubeadm node holds, where a k3s server keeps the same things.
fn plant_kubeadm_forms_into_k3s(root: &Path, secrets: &mut Secrets) {
    let server = root.join("var/lib/rancher/k3s/server");
    fs::create_dir_all(server.join("cred")).unwrap();
    let tokens = secrets.lines(|i, s| format!("{s},user{i},uid{i},\"system:masters\"\n"));
    fs::write(server.join("tokens.csv"), tokens).unwrap();
    let flow = secrets.lines(|i, s| format!("      - {{name: key{i}, secret: {s}}}\n"));
    fs::write(
        server.join("cred/encryption-config.yaml"),
        format!("kind: EncryptionConfiguration\nresources:\n- providers:\n  - aescbc:\n      keys:\n{flow}"),
    )
    .unwrap();
    let key_block = secrets.lines(|_, s| format!("{s}\n"));
    fs::write(
        server.join("cred/backup.asc"),
        format!("-----BEGIN PGP PRIVATE KEY BLOCK-----\n{key_block}-----END PGP PRIVATE KEY BLOCK-----\n"),
    )
    .unwrap();
    let drop_in = secrets.lines(|i, s| format!("Environment=\"K3S_SECRET_TOKEN_{i}={s}\"\n"));
    fs::create_dir_all(root.join("etc/systemd/system/k3s.service.d")).unwrap();
    fs::write(
        root.join("etc/systemd/system/k3s.service.d/20-secrets.conf"),
        format!("[Service]\n{drop_in}"),
    )
    .unwrap();
    let more_tokens = secrets.lines(|i, s| format!("server-token-{i}: {s}\n"));
    fs::create_dir_all(root.join("etc/rancher/k3s/config.yaml.d")).unwrap();
    fs::write(
        root.join("etc/rancher/k3s/config.yaml.d/50-secrets.yaml"),
        format!(
            "kubelet-arg:\n{}{more_tokens}",
            secrets.lines(|i, s| format!("  - \"registry-password-{i}={s}\"\n"))
        ),
    )
    .unwrap();
}

#[test]
fn collect_with_kube_benchs_tree_keeps_no_planted_secret_and_gives_live_verdicts() {
    let mut secrets = Secrets::new(0x6b75_6265);
    plant_environment(&mut secrets);
    let fixture = fixture_copy("cis-1.12/nodes/kubeadm-control-plane");
    plant_kubeadm_node(fixture.path(), &mut secrets);
    let tree = LiveTree::start(fixture.path());
    let targets = "master,etcd,node";
    let Some(live) = tree.scan_kube_bench("cis-1.12", targets) else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let snapshot = tree
        .collect_kube_bench(out.path(), "cis-1.12", targets)
        .expect("the reference tree is present");
    drop(tree);
    assert_no_secret_in(
        &snapshot,
        &secrets,
        &["--db-password-0=<removed:not-read-by-any-check>"],
    );
    let reference = support::kube_bench_cfg().unwrap();
    let replayed = scan_snapshot(
        &snapshot,
        &[
            "--config-dir",
            reference.to_str().unwrap(),
            "--benchmark",
            "cis-1.12",
            "--targets",
            targets,
        ],
    );
    assert!(states(&live.results).len() > 50, "{}", live.stderr);
    assert_eq!(states(&replayed.results), states(&live.results));
}

/// Every node fixture of every embedded benchmark, recorded through `RecordingFacts` and
/// reduced with that benchmark's allowlist, gives the verdicts of the fixture itself.
#[test]
fn every_embedded_benchmarks_fixtures_keep_their_verdicts_when_reduced() {
    use cisgate::definitions::config::BenchmarkConfig;
    use cisgate::definitions::tree::BenchmarkTree;
    use cisgate::engine::run::CheckFilter;
    use cisgate::engine::scan::{scan_node, ScanPlan};
    use cisgate::engine::{detect, reads};
    use cisgate::facts::recording::RecordingFacts;
    use cisgate::facts::snapshot::{Snapshot, SnapshotFacts};
    use cisgate::facts::snapshot_dir::SnapshotDirFacts;
    use cisgate::facts::Facts;

    let tree = BenchmarkTree::Embedded;
    let scan = |facts: &dyn Facts, benchmark: &str, targets: &[String]| {
        let config = BenchmarkConfig::load(&tree, Some(benchmark)).unwrap();
        let filter = CheckFilter::default();
        let plan = ScanPlan {
            tree: &tree,
            config: &config,
            benchmark,
            targets,
            filter: &filter,
            loaded: &Default::default(),
            locations: true,
        };
        let node = scan_node(
            &plan,
            facts,
            "fixture",
            detect::roles_of(targets),
            &mut |_| {},
        )
        .unwrap();
        node.sections
            .iter()
            .flat_map(|s| &s.groups)
            .flat_map(|g| &g.checks)
            .map(|c| {
                (
                    c.id.to_string(),
                    format!("{:?}", c.state),
                    format!("{:?}", c.evidence),
                )
            })
            .collect::<Vec<_>>()
    };
    let mut compared = 0;
    for benchmark in tree.benchmark_names() {
        let nodes = benchmark_fixture(&format!("{benchmark}/nodes"));
        let Ok(entries) = fs::read_dir(&nodes) else {
            continue;
        };
        let config = BenchmarkConfig::load(&tree, Some(&benchmark)).unwrap();
        let all = config.targets_of(&benchmark).unwrap();
        for entry in entries {
            let path = entry.unwrap().path();
            let source = SnapshotDirFacts::open(&path).unwrap();
            let targets: Vec<String> = detect::applicable_targets(&config, &all, &source)
                .into_iter()
                .filter(|t| t != "policies")
                .collect();
            let recording = RecordingFacts::new(SnapshotDirFacts::open(&path).unwrap());
            let direct = scan(&recording, &benchmark, &targets);
            let allow = reads::allowlist(&tree, &config, &benchmark, &targets).unwrap();
            let snapshot = recording.into_snapshot(None, &allow);
            let bytes = snapshot.to_json_bytes();
            let replay = SnapshotFacts::new(
                path.join("node.json"),
                Snapshot::from_bytes(&bytes, Path::new("node.json")).unwrap(),
            );
            let replayed = scan(&replay, &benchmark, &targets);
            let differences: Vec<String> = direct
                .iter()
                .zip(&replayed)
                .filter(|(a, b)| a.1 != b.1)
                .map(|(a, b)| format!("{} {} → {}: {}", a.0, a.1, b.1, b.2))
                .collect();
            assert!(
                differences.is_empty(),
                "{benchmark} {}:\n{}",
                path.display(),
                differences.join("\n")
            );
            assert_eq!(direct.len(), replayed.len());
            compared += direct.len();
        }
    }
    assert!(compared > 1000, "{compared} verdicts compared");
}
