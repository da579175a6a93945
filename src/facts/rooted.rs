//! Node paths under a root directory (`--root /host`, a snapshot directory), resolved the
//! way the node's kernel would: an absolute symlink target starts again at the node's
//! root, not at this machine's `/`, and `..` never climbs above the root.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use crate::sync::locked;

/// Symlinks followed before a path counts as a loop (Linux's own limit).
const MAX_SYMLINK_HOPS: usize = 40;

/// Where a node path is under the root, if it exists there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    Found(PathBuf),
    /// It does not exist (or a parent is not a directory), as `test -e` would say.
    Missing,
}

/// Resolves `node_path` under `root`. With `follow_last` false a final symlink is left
/// itself (as `find` lists it); every other symlink on the way is followed. A symlink loop
/// is an error.
pub fn resolve(root: &Path, node_path: &str, follow_last: bool) -> io::Result<Resolved> {
    resolve_remembering(root, node_path, follow_last, &Seen::default())
}

/// What the `lstat`s of earlier resolutions found: every host path asked about, with its
/// `lstat` or that it does not exist. One node's checks ask about a few hundred paths under
/// a few dozen directories, the same manifests dozens of times (the check, its location,
/// the file's text); remembered, each path costs one `lstat` per scan. For a tree that does
/// not change during the scan (a snapshot directory).
#[derive(Debug, Default)]
pub struct Seen {
    /// By the host path's bytes (hashing a `Path` goes component by component), with a
    /// randomly seeded fast hasher (the paths come from the node).
    entries: Mutex<HashMap<OsString, SeenAs, foldhash::quality::RandomState>>,
}

#[derive(Debug, Clone)]
enum SeenAs {
    Entry(std::fs::Metadata),
    Missing,
}

impl Seen {
    fn get(&self, path: &Path) -> Option<SeenAs> {
        locked(&self.entries).get(path.as_os_str()).cloned()
    }

    fn remember(&self, path: &Path, seen: SeenAs) {
        locked(&self.entries).insert(path.as_os_str().to_owned(), seen);
    }

    /// `lstat` of a host path, asked of the file system once.
    pub fn symlink_metadata(&self, path: &Path) -> io::Result<std::fs::Metadata> {
        match self.get(path) {
            Some(SeenAs::Entry(metadata)) => return Ok(metadata),
            Some(SeenAs::Missing) => return Err(io::ErrorKind::NotFound.into()),
            None => {}
        }
        match std::fs::symlink_metadata(path) {
            Ok(metadata) => {
                self.remember(path, SeenAs::Entry(metadata.clone()));
                Ok(metadata)
            }
            Err(error) => {
                if is_missing(&error) {
                    self.remember(path, SeenAs::Missing);
                }
                Err(error)
            }
        }
    }
}

/// [`resolve`], skipping the `lstat` of what `seen` already knows and adding what it learns.
pub fn resolve_remembering(
    root: &Path,
    node_path: &str,
    follow_last: bool,
    seen: &Seen,
) -> io::Result<Resolved> {
    resolve_with_metadata(root, node_path, follow_last, seen).map(|(resolved, _)| resolved)
}

/// [`resolve_remembering`], with the `lstat` of the path found (`None` when the path is
/// the root or ends in `..`): callers that need the file's metadata need not ask for it
/// again.
pub fn resolve_with_metadata(
    root: &Path,
    node_path: &str,
    follow_last: bool,
    seen: &Seen,
) -> io::Result<(Resolved, Option<std::fs::Metadata>)> {
    // Taken from the end: the path's own components borrowed, a symlink's target copied.
    let mut pending: Vec<Cow<'_, OsStr>> = components(Path::new(node_path))
        .rev()
        .map(Cow::Borrowed)
        .collect();
    // The root and the components resolved so far, grown and cut in place.
    let mut resolved = root.to_path_buf();
    let mut depth = 0;
    // The `lstat` of `resolved`'s last component.
    let mut last_metadata = None;
    let mut hops = 0;
    while let Some(component) = pending.pop() {
        if *component == *".." {
            // `..` at the root stays at the root
            if depth > 0 {
                resolved.pop();
                depth -= 1;
            }
            last_metadata = None;
            continue;
        }
        resolved.push(&component);
        let metadata = match seen.symlink_metadata(&resolved) {
            Ok(metadata) => metadata,
            Err(error) if is_missing(&error) => return Ok((Resolved::Missing, None)),
            Err(error) => return Err(error),
        };
        let is_last = pending.is_empty();
        if metadata.file_type().is_symlink() && (follow_last || !is_last) {
            hops += 1;
            if hops > MAX_SYMLINK_HOPS {
                return Err(io::Error::other("too many levels of symbolic links"));
            }
            let target = std::fs::read_link(&resolved)?;
            resolved.pop();
            if target.is_absolute() {
                resolved = root.to_path_buf();
                depth = 0;
            }
            pending.extend(
                components(&target)
                    .rev()
                    .map(|component| Cow::Owned(component.to_os_string())),
            );
            continue;
        }
        if !is_last && !metadata.is_dir() {
            return Ok((Resolved::Missing, None)); // ENOTDIR: `test -e` says no
        }
        depth += 1;
        last_metadata = Some(metadata);
    }
    Ok((Resolved::Found(resolved), last_metadata))
}

/// Whether an I/O error means "no such path" (`ENOENT`, `ENOTDIR`).
pub fn is_missing(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// Normal and `..` components; the root and `.` say nothing here.
fn components(path: &Path) -> impl DoubleEndedIterator<Item = &OsStr> {
    path.components().filter_map(|component| match component {
        Component::Normal(name) => Some(name),
        Component::ParentDir => Some(OsStr::new("..")),
        Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn absolute_links_and_dot_dots_stay_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::write(root.path().join("etc/shadow"), "node's own").unwrap();
        std::os::unix::fs::symlink("/etc/shadow", root.path().join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../etc/shadow", root.path().join("etc/up")).unwrap();
        let inside = Resolved::Found(root.path().join("etc/shadow"));
        assert_eq!(resolve(root.path(), "/abs", true).unwrap(), inside);
        assert_eq!(resolve(root.path(), "/etc/up", true).unwrap(), inside);
        assert_eq!(
            resolve(root.path(), "/abs", false).unwrap(),
            Resolved::Found(root.path().join("abs"))
        );
    }

    #[test]
    fn remembered_lookups_give_the_same_answers() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc/kubernetes/pki")).unwrap();
        std::fs::write(root.path().join("etc/kubernetes/pki/ca.crt"), "").unwrap();
        std::os::unix::fs::symlink("/etc/kubernetes", root.path().join("k8s")).unwrap();
        let seen = Seen::default();
        for _ in 0..2 {
            for (path, follow) in [
                ("/etc/kubernetes/pki/ca.crt", true),
                ("/k8s/pki/ca.crt", true),
                ("/k8s", false),
                ("/etc/nope/x", true),
                ("/etc/kubernetes/pki", true),
            ] {
                assert_eq!(
                    resolve_remembering(root.path(), path, follow, &seen).unwrap(),
                    resolve(root.path(), path, follow).unwrap(),
                    "{path}"
                );
            }
        }
    }

    #[test]
    fn the_metadata_given_with_a_resolution_is_the_lstat_of_the_path_found() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc/kubernetes")).unwrap();
        std::fs::write(root.path().join("etc/kubernetes/admin.conf"), "12345").unwrap();
        std::os::unix::fs::symlink("/etc/kubernetes", root.path().join("k8s")).unwrap();
        let seen = Seen::default();
        for _ in 0..2 {
            for (path, follow) in [
                ("/etc/kubernetes/admin.conf", true),
                ("/k8s/admin.conf", true),
                ("/k8s", false),
                ("/k8s", true),
                ("/etc/kubernetes/../kubernetes", true),
                ("/etc", true),
                ("/", true),
            ] {
                let (resolved, metadata) =
                    resolve_with_metadata(root.path(), path, follow, &seen).unwrap();
                let Resolved::Found(host) = resolved else {
                    panic!("{path}: not found")
                };
                if let Some(metadata) = metadata {
                    let again = std::fs::symlink_metadata(&host).unwrap();
                    assert_eq!(
                        (metadata.ino(), metadata.file_type(), metadata.len()),
                        (again.ino(), again.file_type(), again.len()),
                        "{path}"
                    );
                }
            }
        }
        let (_, metadata) =
            resolve_with_metadata(root.path(), "/etc/kubernetes/admin.conf", true, &seen).unwrap();
        assert_eq!(
            metadata.map(|m| m.len()),
            Some(5),
            "a file is never known from `seen`"
        );
    }

    #[test]
    fn missing_paths_and_loops() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("file"), "").unwrap();
        std::os::unix::fs::symlink("/loop", root.path().join("loop")).unwrap();
        assert_eq!(
            resolve(root.path(), "/nope", true).unwrap(),
            Resolved::Missing
        );
        assert_eq!(
            resolve(root.path(), "/file/below", true).unwrap(),
            Resolved::Missing
        );
        assert!(resolve(root.path(), "/loop", true).is_err());
    }
}
