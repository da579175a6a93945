//! User and group names from a node's own `/etc/passwd` and `/etc/group`.
//!
//! A scan from a container (`--root /host`) must name owners the way the *host* does;
//! `getpwuid` would answer from the container's files. So the node's files are parsed
//! here, with the scanning machine's files as the fallback when the root has none.

use std::collections::HashMap;
use std::path::Path;

use super::bounded::{self, Limit};
use super::rooted::{self, Resolved};

/// Id → name, from one passwd- or group-format file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameTable {
    names: HashMap<u32, String>,
}

impl NameTable {
    /// Parses `name:password:id:...` lines (the id is the third field in both
    /// `/etc/passwd` and `/etc/group`). Comments, blank lines, NIS `+`/`-` entries and
    /// lines without a numeric id are skipped; the first entry for an id wins, as with
    /// `getpwuid`.
    pub fn parse(text: &str) -> Self {
        let mut names = HashMap::new();
        for line in text.lines() {
            if let Some((id, name)) = parse_entry(line) {
                names.entry(id).or_insert_with(|| name.to_string());
            }
        }
        NameTable { names }
    }

    pub fn name(&self, id: u32) -> Option<&str> {
        self.names.get(&id).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

fn parse_entry(line: &str) -> Option<(u32, &str)> {
    let line = line.trim_end_matches('\r');
    if line.is_empty() || line.starts_with('#') || line.starts_with('+') || line.starts_with('-') {
        return None;
    }
    let mut fields = line.split(':');
    let name = fields.next().filter(|name| !name.is_empty())?;
    let _password = fields.next()?;
    let id = fields.next()?.trim().parse().ok()?;
    Some((id, name))
}

/// The user and group names of one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeAccounts {
    users: NameTable,
    groups: NameTable,
    /// Why a database the root has could not be read (a FIFO, a device, too large).
    problem: Option<String>,
}

impl NodeAccounts {
    /// Reads `<root>/etc/passwd` and `<root>/etc/group`; each one the root lacks is taken
    /// from the scanning machine's `/etc` instead.
    pub fn load(root: &Path) -> Self {
        Self::load_with_fallback(root, Path::new("/"))
    }

    /// As [`NodeAccounts::load`], with the fallback root given (for tests).
    pub fn load_with_fallback(root: &Path, fallback_root: &Path) -> Self {
        let mut problems = Vec::new();
        let mut load = |relative| {
            load_table(root, fallback_root, relative).unwrap_or_else(|problem| {
                problems.push(problem);
                NameTable::default()
            })
        };
        let users = load("etc/passwd");
        let groups = load("etc/group");
        NodeAccounts {
            users,
            groups,
            problem: (!problems.is_empty()).then(|| problems.join("; ")),
        }
    }

    pub fn from_tables(users: NameTable, groups: NameTable) -> Self {
        NodeAccounts {
            users,
            groups,
            problem: None,
        }
    }

    /// Why the node's own database could not be read, when it could not: owners are then
    /// unknown, and a check that needs them cannot be decided.
    pub fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }

    pub fn user_name(&self, uid: u32) -> Option<&str> {
        self.users.name(uid)
    }

    pub fn group_name(&self, gid: u32) -> Option<&str> {
        self.groups.name(gid)
    }
}

/// The node's database, its symlinks resolved within the root, read bounded; the fallback's
/// when the root has none. A database the root has but that cannot be read (a FIFO, a
/// device, past the size limit) is an error naming it; an unreadable fallback leaves
/// names unknown (owners then print as numbers, as `stat` does).
fn load_table(root: &Path, fallback_root: &Path, relative: &str) -> Result<NameTable, String> {
    let node_path = format!("/{relative}");
    let on_node = match rooted::resolve(root, &node_path, true) {
        Ok(Resolved::Found(path)) => Some(path),
        Ok(Resolved::Missing) => None,
        Err(error) => return Err(format!("cannot read {node_path}: {error}")),
    };
    let Some(path) = on_node else {
        let fallback = fallback_root.join(relative);
        return Ok(bounded::read_regular(&fallback, Limit::NodeFile, true)
            .map(|bytes| NameTable::parse(&String::from_utf8_lossy(&bytes)))
            .unwrap_or_default());
    };
    match bounded::read_regular(&path, Limit::NodeFile, false) {
        Ok(bytes) => Ok(NameTable::parse(&String::from_utf8_lossy(&bytes))),
        Err(error) if error.is_missing() => Ok(NameTable::default()),
        Err(error) => Err(format!("cannot read {node_path}: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/bash
# a comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin

+nisuser::::::
etcd:x:2379:2379:etcd user:/var/lib/etcd:/usr/sbin/nologin
toor:x:0:0:second root:/root:/bin/sh
broken:x:notanumber:0::/:/bin/sh
short:x
";

    #[test]
    fn passwd_entries_map_uid_to_name() {
        let table = NameTable::parse(PASSWD);
        assert_eq!(table.name(1), Some("daemon"));
        assert_eq!(table.name(2379), Some("etcd"));
    }

    #[test]
    fn first_entry_for_an_id_wins_like_getpwuid() {
        assert_eq!(NameTable::parse(PASSWD).name(0), Some("root"));
    }

    #[test]
    fn comments_nis_and_malformed_lines_are_skipped() {
        let table = NameTable::parse(PASSWD);
        assert_eq!(table.len(), 3, "{table:?}");
    }

    #[test]
    fn group_file_uses_the_same_id_field() {
        let table = NameTable::parse("root:x:0:\netcd:x:2379:alice,bob\r\n");
        assert_eq!(table.name(2379), Some("etcd"));
        assert_eq!(table.name(5), None);
    }

    #[test]
    fn node_files_are_preferred_over_the_fallback() {
        let node = tempfile::tempdir().unwrap();
        let fallback = tempfile::tempdir().unwrap();
        write(
            node.path(),
            "etc/passwd",
            "nodeuser:x:1000:1000::/:/bin/sh\n",
        );
        write(node.path(), "etc/group", "nodegroup:x:1000:\n");
        write(
            fallback.path(),
            "etc/passwd",
            "hostuser:x:1000:1000::/:/bin/sh\n",
        );
        write(fallback.path(), "etc/group", "hostgroup:x:1000:\n");

        let accounts = NodeAccounts::load_with_fallback(node.path(), fallback.path());
        assert_eq!(accounts.user_name(1000), Some("nodeuser"));
        assert_eq!(accounts.group_name(1000), Some("nodegroup"));
    }

    #[test]
    fn a_missing_node_file_falls_back_to_the_scanning_machine() {
        let node = tempfile::tempdir().unwrap();
        let fallback = tempfile::tempdir().unwrap();
        write(
            node.path(),
            "etc/passwd",
            "nodeuser:x:1000:1000::/:/bin/sh\n",
        );
        write(fallback.path(), "etc/group", "hostgroup:x:1000:\n");

        let accounts = NodeAccounts::load_with_fallback(node.path(), fallback.path());
        assert_eq!(accounts.user_name(1000), Some("nodeuser"));
        assert_eq!(accounts.group_name(1000), Some("hostgroup"));
    }

    #[test]
    fn no_database_anywhere_leaves_names_unknown() {
        let empty = tempfile::tempdir().unwrap();
        let accounts = NodeAccounts::load_with_fallback(empty.path(), empty.path());
        assert_eq!(accounts.user_name(0), None);
        assert_eq!(accounts.group_name(0), None);
    }

    #[test]
    fn a_fifo_or_device_database_is_a_problem_not_a_wait() {
        let node = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(node.path().join("etc")).unwrap();
        let fifo = node.path().join("etc/passwd");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        std::os::unix::fs::symlink("/dev/zero", node.path().join("etc/group")).unwrap();
        let accounts = NodeAccounts::load_with_fallback(node.path(), node.path());
        let problem = accounts.problem().expect("a problem");
        assert!(problem.contains("/etc/passwd: a FIFO"), "{problem}");
        // `/dev/zero` resolves inside the root, where there is none: absent, not the device
        assert!(!problem.contains("/etc/group"), "{problem}");
    }

    #[test]
    fn symlinks_to_the_database_stay_inside_the_root() {
        let node = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        write(
            outside.path(),
            "passwd",
            "outsider:x:1000:1000::/:/bin/sh\n",
        );
        write(
            node.path(),
            "real/passwd",
            "insider:x:1000:1000::/:/bin/sh\n",
        );
        std::fs::create_dir_all(node.path().join("etc")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("passwd"),
            node.path().join("etc/passwd"),
        )
        .unwrap();
        let no_fallback = tempfile::tempdir().unwrap();
        let accounts = NodeAccounts::load_with_fallback(node.path(), no_fallback.path());
        assert_eq!(accounts.user_name(1000), None);
        std::fs::remove_file(node.path().join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink("/real/passwd", node.path().join("etc/passwd")).unwrap();
        let accounts = NodeAccounts::load_with_fallback(node.path(), no_fallback.path());
        assert_eq!(accounts.user_name(1000), Some("insider"));
    }

    fn write(root: &Path, relative: &str, text: &str) {
        let path = root.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}
