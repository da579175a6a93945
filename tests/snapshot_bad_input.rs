//! Snapshots that are broken, hostile or incomplete: every failure is a typed error
//! naming the file, and no symlink reaches the scanning machine's files.

use std::os::unix::fs::symlink;
use std::path::Path;

use cisgate::facts::discover::discover;
use cisgate::facts::snapshot::{Snapshot, SnapshotError, SnapshotFacts, SnapshotNode};
use cisgate::facts::snapshot_dir::{SnapshotDirFacts, METADATA_FILE};
use cisgate::facts::{FactError, Facts, FileKind};

fn write(root: &Path, path: &str, text: &str) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, text).unwrap();
}

fn valid_snapshot() -> Snapshot {
    let mut snapshot = Snapshot::new(SnapshotNode {
        name: "node-1".into(),
        ..SnapshotNode::default()
    });
    snapshot.processes = Some(Vec::new());
    snapshot
}

#[test]
fn a_truncated_gzip_snapshot_is_a_gzip_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node-1.json.gz");
    let bytes = valid_snapshot().to_gzip_bytes();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let error = SnapshotFacts::load(&path).err().unwrap();
    assert!(matches!(error, SnapshotError::Gzip { .. }), "{error}");
    assert!(error.to_string().contains("node-1.json.gz"), "{error}");
}

#[test]
fn a_truncated_json_snapshot_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node-1.json");
    let bytes = valid_snapshot().to_json_bytes();
    std::fs::write(&path, &bytes[..bytes.len() - 20]).unwrap();
    let error = SnapshotFacts::load(&path).err().unwrap();
    let text = error.to_string();
    assert!(matches!(error, SnapshotError::Json { .. }), "{text}");
    assert!(text.contains(&format!("{}:", path.display())), "{text}");
}

#[test]
fn a_wrong_snapshot_version_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node-1.json");
    let text = String::from_utf8(valid_snapshot().to_json_bytes())
        .unwrap()
        .replace("\"snapshot_version\": 1", "\"snapshot_version\": 99");
    std::fs::write(&path, text).unwrap();
    let error = SnapshotFacts::load(&path).err().unwrap();
    assert!(
        matches!(&error, SnapshotError::Version { found, .. } if found == "99"),
        "{error}"
    );
    assert!(error.to_string().contains("node-1.json"));
}

#[test]
fn a_link_to_etc_shadow_resolves_inside_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "etc/kubernetes/admin.conf", "inside");
    symlink("/etc/shadow", dir.path().join("etc/kubernetes/shadow-link")).unwrap();
    let facts = SnapshotDirFacts::open(dir.path()).unwrap();
    // the snapshot has no etc/shadow: the link dangles, whatever this machine holds
    assert_eq!(facts.stat("/etc/kubernetes/shadow-link").unwrap(), None);
    assert_eq!(
        facts.read_file("/etc/kubernetes/shadow-link").unwrap(),
        None
    );
    // with one in the snapshot, that one is read (a scan sees the tree as it was opened,
    // so the changed tree is opened again)
    write(dir.path(), "etc/shadow", "snapshot's own shadow");
    let facts = SnapshotDirFacts::open(dir.path()).unwrap();
    assert_eq!(
        facts
            .read_file("/etc/kubernetes/shadow-link")
            .unwrap()
            .as_deref(),
        Some("snapshot's own shadow")
    );
}

#[test]
fn dot_dot_links_stop_at_the_snapshot_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("node");
    write(&root, "etc/kubernetes/admin.conf", "inside");
    write(dir.path(), "outside.txt", "outside the snapshot");
    symlink("../../..", root.join("etc/kubernetes/up")).unwrap();
    symlink("../../../outside.txt", root.join("etc/kubernetes/escape")).unwrap();
    let facts = SnapshotDirFacts::open(&root).unwrap();
    // ../../.. from etc/kubernetes is the snapshot root, not the machine's /
    let up = facts.stat("/etc/kubernetes/up").unwrap().unwrap();
    assert_eq!(up.kind, FileKind::Dir);
    assert_eq!(
        facts
            .read_file("/etc/kubernetes/up/etc/kubernetes/admin.conf")
            .unwrap()
            .as_deref(),
        Some("inside")
    );
    // one more `..` cannot climb out: outside.txt is looked for in the root
    assert_eq!(facts.read_file("/etc/kubernetes/escape").unwrap(), None);
    assert_eq!(facts.read_file("/../../outside.txt").unwrap(), None);
}

#[test]
fn a_symlink_loop_is_an_unreadable_fact_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "etc/kubernetes/admin.conf", "x");
    symlink("b", dir.path().join("etc/kubernetes/a")).unwrap();
    symlink("a", dir.path().join("etc/kubernetes/b")).unwrap();
    let facts = SnapshotDirFacts::open(dir.path()).unwrap();
    let error = facts.stat("/etc/kubernetes/a").unwrap_err();
    assert!(
        matches!(&error, FactError::Unreadable { path, .. } if path == "/etc/kubernetes/a"),
        "{error}"
    );
}

#[test]
fn an_unreadable_file_is_an_unreadable_fact_not_an_absent_one() {
    let dir = tempfile::tempdir().unwrap();
    // a directory where a file is expected cannot be read as one, even as root
    std::fs::create_dir_all(dir.path().join("var/lib/kubelet/config.yaml")).unwrap();
    write(dir.path(), "etc/kubernetes/secret.conf", "x");
    let facts = SnapshotDirFacts::open(dir.path()).unwrap();
    assert!(matches!(
        facts.read_file("/var/lib/kubelet/config.yaml"),
        Err(FactError::Unreadable { .. })
    ));
    let file = dir.path().join("etc/kubernetes/secret.conf");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&file).is_err() {
        // not running as root: the permission bits are enforced
        assert!(matches!(
            facts.read_file("/etc/kubernetes/secret.conf"),
            Err(FactError::Unreadable { .. })
        ));
    }
    assert_eq!(
        facts
            .stat("/etc/kubernetes/secret.conf")
            .unwrap()
            .unwrap()
            .mode,
        0
    );
}

#[test]
fn a_metadata_file_with_a_bad_mode_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        METADATA_FILE,
        "node:\n  name: n\nfiles:\n  - path: /etc/kubernetes/admin.conf\n    mode: 0999\n",
    );
    let error = SnapshotDirFacts::open(dir.path())
        .err()
        .unwrap()
        .to_string();
    let expected = format!(
        "{}:5:",
        dir.path()
            .canonicalize()
            .unwrap()
            .join(METADATA_FILE)
            .display()
    );
    assert!(error.starts_with(&expected), "{error}");
    assert!(error.contains("0999"), "{error}");
}

#[test]
fn a_broken_snapshot_among_many_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a", "b", "c"] {
        let mut snapshot = valid_snapshot();
        snapshot.node.name = name.into();
        std::fs::write(
            dir.path().join(format!("{name}.json")),
            snapshot.to_json_bytes(),
        )
        .unwrap();
    }
    std::fs::write(
        dir.path().join("broken.json.gz"),
        b"\x1f\x8b\x08\x00garbage",
    )
    .unwrap();
    let discovery = discover(&[dir.path().to_path_buf()]);
    assert_eq!(discovery.sources.len(), 4);
    let (loaded, failed): (Vec<_>, Vec<_>) = discovery
        .sources
        .iter()
        .map(|source| source.open())
        .partition(Result::is_ok);
    assert_eq!(loaded.len(), 3);
    assert_eq!(failed.len(), 1);
    let error = failed.into_iter().next().unwrap().err().unwrap();
    assert!(error.to_string().contains("broken.json.gz"), "{error}");
    let names: Vec<String> = loaded
        .into_iter()
        .map(|facts| facts.unwrap().identity().name)
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
}
