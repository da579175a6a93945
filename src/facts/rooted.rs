//! Node paths under a root directory (`--root /host`, a snapshot directory), resolved the
//! way the node's kernel would: an absolute symlink target starts again at the node's
//! root, not at this machine's `/`, and `..` never climbs above the root.

use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

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
    let mut pending = components(Path::new(node_path));
    pending.reverse();
    let mut resolved: Vec<OsString> = Vec::new();
    let mut hops = 0;
    while let Some(component) = pending.pop() {
        if component == ".." {
            resolved.pop(); // `..` at the root stays at the root
            continue;
        }
        let candidate = join_under(root, &resolved).join(&component);
        let metadata = match std::fs::symlink_metadata(&candidate) {
            Ok(metadata) => metadata,
            Err(error) if is_missing(&error) => return Ok(Resolved::Missing),
            Err(error) => return Err(error),
        };
        let is_last = pending.is_empty();
        if metadata.file_type().is_symlink() && (follow_last || !is_last) {
            hops += 1;
            if hops > MAX_SYMLINK_HOPS {
                return Err(io::Error::other("too many levels of symbolic links"));
            }
            let target = std::fs::read_link(&candidate)?;
            if target.is_absolute() {
                resolved.clear();
            }
            let mut target_components = components(&target);
            target_components.reverse();
            pending.extend(target_components);
            continue;
        }
        if !is_last && !metadata.is_dir() {
            return Ok(Resolved::Missing); // ENOTDIR: `test -e` says no
        }
        resolved.push(component);
    }
    Ok(Resolved::Found(join_under(root, &resolved)))
}

/// Whether an I/O error means "no such path" (`ENOENT`, `ENOTDIR`).
pub fn is_missing(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// Normal and `..` components; the root and `.` say nothing here.
fn components(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|component| match component {
            Component::Normal(name) => Some(name.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

fn join_under(root: &Path, parts: &[OsString]) -> PathBuf {
    let mut path = root.to_path_buf();
    path.extend(parts);
    path
}

#[cfg(test)]
mod tests {
    use super::*;

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
