//! Fleet discovery: `--snapshot PATH` (repeatable) names a snapshot file, a snapshot
//! directory, or a folder holding many of either.
//!
//! Discovery only finds; loading happens per node through [`SnapshotSource::open`], so a
//! fleet of thousands is evaluated with one snapshot in memory per worker.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::snapshot::{node_name_from_path, SnapshotError, SnapshotFacts};
use super::snapshot_dir::{SnapshotDirFacts, METADATA_FILE};
use super::Facts;
use crate::sync::locked;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SnapshotKind {
    /// A `.json` / `.json.gz` snapshot document.
    File,
    /// A tree laid out like a node's root filesystem.
    Directory,
}

/// One node's snapshot, found but not yet loaded.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SnapshotSource {
    pub path: PathBuf,
    pub kind: SnapshotKind,
}

impl SnapshotSource {
    /// The node's name before loading (for naming a snapshot that cannot be loaded):
    /// the file name without `.json`/`.json.gz`, or the directory's name.
    pub fn node_name(&self) -> String {
        node_name_from_path(&self.path)
    }

    /// Loads the snapshot; drop the result once the node is evaluated.
    pub fn open(&self) -> Result<Box<dyn Facts>, SnapshotError> {
        Ok(match self.kind {
            SnapshotKind::File => Box::new(SnapshotFacts::load(&self.path)?),
            SnapshotKind::Directory => Box::new(SnapshotDirFacts::open(&self.path)?),
        })
    }
}

/// A `--snapshot` path that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("snapshot path {}: {reason}", path.display())]
pub struct DiscoverError {
    pub path: PathBuf,
    pub reason: String,
}

/// What `--snapshot` paths hold: sources sorted by path (no duplicates), and errors.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Discovery {
    pub sources: Vec<SnapshotSource>,
    pub errors: Vec<DiscoverError>,
}

/// Whether a directory looks like a node's root: it has `etc/kubernetes`,
/// `var/lib/kubelet` or the metadata file.
pub fn is_snapshot_dir(dir: &Path) -> bool {
    ["etc/kubernetes", "var/lib/kubelet", METADATA_FILE]
        .iter()
        .any(|marker| std::fs::symlink_metadata(dir.join(marker)).is_ok())
}

/// Whether a file name is one a folder walk takes as a snapshot document.
pub fn is_snapshot_file_name(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    name.ends_with(".json") || name.ends_with(".json.gz")
}

/// Finds every snapshot under the given paths.
///
/// - a file is a snapshot file, whatever its name;
/// - a directory that looks like a node root is one snapshot directory;
/// - any other directory is walked (honouring `.gitignore` and `.ignore` files inside it,
///   not the ones above it or the user's global git excludes): `*.json` and `*.json.gz`
///   files are snapshot files, and directories that look like node roots are snapshot
///   directories (not walked into).
pub fn discover(paths: &[PathBuf]) -> Discovery {
    let mut discovery = Discovery::default();
    for path in paths {
        match std::fs::metadata(path) {
            Err(error) => discovery.errors.push(DiscoverError {
                path: path.clone(),
                reason: error.to_string(),
            }),
            Ok(metadata) if metadata.is_file() => discovery.sources.push(SnapshotSource {
                path: path.clone(),
                kind: SnapshotKind::File,
            }),
            Ok(metadata) if !metadata.is_dir() => discovery.errors.push(DiscoverError {
                path: path.clone(),
                reason: "neither a snapshot file nor a directory (a FIFO, a device or a socket is never read)".into(),
            }),
            Ok(_) if is_snapshot_dir(path) => discovery.sources.push(SnapshotSource {
                path: path.clone(),
                kind: SnapshotKind::Directory,
            }),
            Ok(_) => walk_folder(path, &mut discovery),
        }
    }
    discovery.sources.sort();
    discovery.sources.dedup();
    discovery.errors.sort_by(|a, b| a.path.cmp(&b.path));
    discovery
}

fn walk_folder(folder: &Path, discovery: &mut Discovery) {
    let node_roots = Arc::new(Mutex::new(Vec::new()));
    let found_roots = Arc::clone(&node_roots);
    let walker = ignore::WalkBuilder::new(folder)
        .hidden(false)
        .require_git(false)
        .parents(false)
        .git_global(false)
        .git_ignore(true)
        .git_exclude(true)
        .ignore(true)
        .follow_links(false)
        .sort_by_file_path(|a, b| a.cmp(b))
        .filter_entry(move |entry| {
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            if !is_dir || entry.depth() == 0 {
                return true;
            }
            if entry.file_name() == ".git" {
                return false;
            }
            if is_snapshot_dir(entry.path()) {
                locked(&found_roots).push(entry.path().to_path_buf());
                return false; // one node: its files are not snapshots of their own
            }
            true
        })
        .build();
    let mut files = Vec::new();
    for entry in walker {
        match entry {
            Ok(entry) => {
                let file_type = entry.file_type();
                let is_file = file_type.is_some_and(|t| t.is_file());
                let is_special =
                    file_type.is_some_and(|t| !t.is_file() && !t.is_dir() && !t.is_symlink());
                if is_file && is_snapshot_file_name(entry.path()) {
                    files.push(entry.into_path());
                } else if is_special && is_snapshot_file_name(entry.path()) {
                    discovery.errors.push(DiscoverError {
                        path: entry.into_path(),
                        reason: "not a regular file (a FIFO, a device or a socket is never read)"
                            .into(),
                    });
                }
            }
            Err(error) => discovery.errors.push(DiscoverError {
                path: folder.to_path_buf(),
                reason: error.to_string(),
            }),
        }
    }
    let roots = std::mem::take(&mut *node_roots.lock().unwrap_or_else(|p| p.into_inner()));
    discovery
        .sources
        .extend(files.into_iter().map(|path| SnapshotSource {
            path,
            kind: SnapshotKind::File,
        }));
    discovery
        .sources
        .extend(roots.into_iter().map(|path| SnapshotSource {
            path,
            kind: SnapshotKind::Directory,
        }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, path: &str, text: &str) {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }

    fn relative(discovery: &Discovery, root: &Path) -> Vec<(String, SnapshotKind)> {
        discovery
            .sources
            .iter()
            .map(|s| {
                let path = s.path.strip_prefix(root).unwrap().display().to_string();
                (path, s.kind)
            })
            .collect()
    }

    #[test]
    fn a_folder_yields_files_and_node_roots_sorted_honouring_gitignore() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        touch(root, "fleet/b.json.gz", "");
        touch(root, "fleet/a.json", "");
        touch(root, "fleet/notes.txt", "");
        touch(root, "fleet/.hidden/c.json", "");
        touch(root, "fleet/old/d.json", "");
        touch(root, "fleet/.gitignore", "old/\n");
        touch(
            root,
            "fleet/nodes/cp-1/etc/kubernetes/manifests/etcd.yaml",
            "",
        );
        touch(root, "fleet/nodes/cp-1/etc/kubernetes/inner.json", "");
        touch(root, "fleet/nodes/w-1/cisgate-node.yaml", "");
        let discovery = discover(&[root.join("fleet")]);
        assert_eq!(
            relative(&discovery, root),
            vec![
                ("fleet/.hidden/c.json".to_string(), SnapshotKind::File),
                ("fleet/a.json".to_string(), SnapshotKind::File),
                ("fleet/b.json.gz".to_string(), SnapshotKind::File),
                ("fleet/nodes/cp-1".to_string(), SnapshotKind::Directory),
                ("fleet/nodes/w-1".to_string(), SnapshotKind::Directory),
            ]
        );
        assert!(discovery.errors.is_empty());
    }

    #[test]
    fn explicit_paths_are_taken_as_they_are_and_missing_ones_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        touch(root, "node.snapshot", "");
        touch(root, "cp/var/lib/kubelet/config.yaml", "");
        let discovery = discover(&[
            root.join("node.snapshot"),
            root.join("cp"),
            root.join("missing"),
            root.join("node.snapshot"),
        ]);
        assert_eq!(
            relative(&discovery, root),
            vec![
                ("cp".to_string(), SnapshotKind::Directory),
                ("node.snapshot".to_string(), SnapshotKind::File),
            ]
        );
        assert_eq!(discovery.errors.len(), 1);
        assert!(discovery.errors[0].to_string().contains("missing"));
    }

    #[test]
    fn fifos_are_errors_not_snapshots() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        touch(root, "fleet/a.json", "");
        for fifo in ["fleet/b.json", "top.json"] {
            let status = std::process::Command::new("mkfifo")
                .arg(root.join(fifo))
                .status()
                .unwrap();
            assert!(status.success());
        }
        let discovery = discover(&[root.join("fleet"), root.join("top.json")]);
        assert_eq!(
            relative(&discovery, root),
            vec![("fleet/a.json".to_string(), SnapshotKind::File)]
        );
        let errors: Vec<String> = discovery.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors.iter().any(|e| e.contains("fleet/b.json")),
            "{errors:?}"
        );
        assert!(errors.iter().any(|e| e.contains("top.json")), "{errors:?}");
    }

    #[test]
    fn ignore_rules_above_the_folder_do_not_apply() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        touch(root, ".gitignore", "*.json\n");
        touch(root, "fleet/a.json", "");
        let discovery = discover(&[root.join("fleet")]);
        assert_eq!(discovery.sources.len(), 1);
    }
}
