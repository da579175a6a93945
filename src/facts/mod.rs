//! Facts: what a node looks like, answered by one trait whatever the source.
//!
//! A source answers questions about processes, files, shell audits and API
//! objects. It knows nothing about checks: the engine asks, the source answers.

pub mod allowlist;
pub mod api_value;
pub mod bounded;
pub mod derive;
pub mod discover;
pub mod kubectl;
pub mod live;
pub mod passwd;
mod path_pattern;
pub mod recording;
pub mod redact;
pub mod rooted;
pub mod snapshot;
pub mod snapshot_dir;

use std::sync::Arc;

use arcstr::ArcStr;
use serde::{Deserialize, Serialize};

/// A running process as `/proc/<pid>/cmdline` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    pub pid: u32,
    /// The kernel's command name (`/proc/<pid>/comm`, at most 15 bytes), which `ps -C` matches.
    pub comm: String,
    pub argv: Vec<String>,
}

/// A node's processes, ordered by pid.
pub type ProcessList = std::sync::Arc<[Process]>;

impl Process {
    /// The command line as `ps -o cmd` prints it: argv joined by single spaces.
    pub fn command_line(&self) -> String {
        self.argv.join(" ")
    }

    /// The start of [`Self::command_line`], at least `len` bytes of it (whole arguments) or
    /// all of it: what a check of the line's first bytes needs, without joining every flag
    /// of a long command line.
    pub fn command_line_start(&self, len: usize) -> std::borrow::Cow<'_, str> {
        match self.argv.as_slice() {
            [] => std::borrow::Cow::Borrowed(""),
            [only] => std::borrow::Cow::Borrowed(only),
            [first, ..] if first.len() >= len => std::borrow::Cow::Borrowed(first),
            [first, rest @ ..] => {
                let (mut taken, mut joined_len) = (1, first.len());
                for arg in rest {
                    if joined_len >= len {
                        break;
                    }
                    joined_len += 1 + arg.len();
                    taken += 1;
                }
                std::borrow::Cow::Owned(self.argv[..taken].join(" "))
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    Other,
}

impl From<std::fs::FileType> for FileKind {
    fn from(file_type: std::fs::FileType) -> Self {
        if file_type.is_file() {
            FileKind::File
        } else if file_type.is_dir() {
            FileKind::Dir
        } else if file_type.is_symlink() {
            FileKind::Symlink
        } else {
            FileKind::Other
        }
    }
}

/// What `stat` says about a path (symlinks followed, as `stat` and `test -e` do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStat {
    pub kind: FileKind,
    /// Permission bits only (`mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// The owner's name on the node, when the node's passwd database knows it.
    pub user: Option<ArcStr>,
    /// The group's name on the node, when the node's group database knows it.
    pub group: Option<ArcStr>,
    pub size: u64,
}

impl FileStat {
    /// `stat -c %U:%G`: names where known, numeric ids otherwise.
    pub fn owner_text(&self) -> String {
        let mut text = String::new();
        self.write_owner(&mut text);
        text
    }

    /// [`Self::owner_text`] appended to `out` (a probe's lines are written into one text).
    pub fn write_owner(&self, out: &mut String) {
        use std::fmt::Write as _;
        for (name, id, end) in [(&self.user, self.uid, ":"), (&self.group, self.gid, "")] {
            match name {
                Some(name) => out.push_str(name),
                None => write!(out, "{id}").expect("writing to a String cannot fail"),
            }
            out.push_str(end);
        }
    }

    /// `stat -c %a`: octal permission bits without leading zeros.
    pub fn mode_text(&self) -> String {
        let mut text = String::with_capacity(4);
        push_octal(&mut text, self.mode);
        text
    }

    /// `permissions=<stat -c %a>`, as kube-bench's audits print it.
    pub fn permissions_text(&self) -> String {
        let mut text = String::new();
        self.write_permissions(&mut text);
        text
    }

    /// [`Self::permissions_text`] appended to `out`.
    pub fn write_permissions(&self, out: &mut String) {
        out.push_str("permissions=");
        push_octal(out, self.mode);
    }
}

/// `{:o}` without the formatting machinery (a node's modes are printed a hundred times).
fn push_octal(out: &mut String, value: u32) {
    let mut digits = [0u8; 11]; // u32::MAX is 11 octal digits
    let mut start = digits.len();
    let mut rest = value;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest & 7) as u8;
        rest >>= 3;
        if rest == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[start..]).expect("octal digits are ASCII"));
}

/// A shell audit in its two spellings: as the node sees it (paths on the node,
/// used for reports and as the key of recorded outputs in snapshots) and as it
/// runs here (paths under `--root`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellCommand {
    pub on_node: String,
    pub to_run: String,
}

/// What a shell audit printed (stdout and stderr interleaved) and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShellOutput {
    pub output: String,
    pub exit_code: i32,
}

/// Who the node is, as far as the source can tell.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeIdentity {
    pub name: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub kubernetes_version: Option<String>,
    #[serde(default)]
    pub platform: Option<String>,
    /// The API server's version string as `kubectl version` gives it (`v1.31.4-eks-2d5f260`),
    /// where the source knows it: it names managed and distribution platforms.
    #[serde(default)]
    pub server_version: Option<String>,
    /// The cluster the node belongs to, where the source names it (the snapshot's metadata,
    /// the kubeconfig's current context of a live scan).
    #[serde(default)]
    pub cluster: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FactError {
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("not evaluable from this snapshot: {what} was not recorded")]
    NotRecorded { what: String },
    #[error("`{command}` did not finish within {seconds} s and was stopped")]
    Timeout { command: String, seconds: u64 },
    #[error("could not start `{command}`: {reason}")]
    Spawn { command: String, reason: String },
    #[error("cannot list {kind}: {reason}")]
    Api { kind: String, reason: String },
}

/// One kind's API objects, shared by whoever asks for them.
pub type ApiObjects = std::sync::Arc<Vec<api_value::ApiValue>>;

/// One source of facts about one node. Paths are node paths (`/etc/kubernetes/...`);
/// a source that reads a mounted host or a snapshot maps them itself.
pub trait Facts: Send + Sync {
    /// Who the node is.
    fn identity(&self) -> NodeIdentity;

    /// Describes the source for report headers, e.g. `live node (root /host)`.
    fn describe(&self) -> String;

    /// Every process running on the node, ordered by pid. Shared, not copied: a node's
    /// checks ask for it many times.
    fn processes(&self) -> Result<ProcessList, FactError>;

    /// `stat` of a path, following symlinks; `None` when it does not exist.
    fn stat(&self, path: &str) -> Result<Option<FileStat>, FactError>;

    /// The text of a file; `None` when it does not exist.
    fn read_file(&self, path: &str) -> Result<Option<String>, FactError>;

    /// The path itself and every path below it, recursively and sorted, as `find PATH` lists
    /// them; empty when the path does not exist. Shared: a node's PKI tree is walked by
    /// several checks.
    fn list_tree(&self, path: &str) -> Result<Arc<[String]>, FactError>;

    /// Runs (or replays) a shell audit.
    fn run_shell(&self, command: &ShellCommand) -> Result<ShellOutput, FactError>;

    /// The prefix that turns a node path into a path this machine can open in a shell
    /// (`/host` for `--root /host`; empty for `/` and for snapshots).
    fn shell_path_prefix(&self) -> &str;

    /// All API objects of a kind (`pods`, `rolebindings.rbac.authorization.k8s.io`, ...),
    /// across all namespaces, each as the API returns it. Shared, not copied: a cluster's
    /// pods are megabytes, and every check of section 5 reads them.
    fn api_objects(&self, kind: &str) -> Result<ApiObjects, FactError>;

    /// Says which kinds `api_objects` will be asked for next, so a source that lists them
    /// slowly (kubectl) can start on all of them at once. It answers nothing itself.
    fn prefetch_api_objects(&self, _kinds: &[&str]) {}

    /// Whether API objects can be read at all (decides whether `policies` runs by default).
    fn api_reachable(&self) -> bool;

    /// The file on this machine that holds a node file, where that is a file a user edits
    /// in place of the node's (a snapshot directory kept in git); `None` otherwise.
    fn source_file(&self, _path: &str) -> Option<std::path::PathBuf> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_printed_in_octal_as_format_prints_them() {
        for mode in [0, 0o7, 0o10, 0o600, 0o644, 0o755, 0o1777, 0o7777, u32::MAX] {
            let mut text = String::new();
            push_octal(&mut text, mode);
            assert_eq!(text, format!("{mode:o}"));
            let stat = FileStat {
                kind: FileKind::File,
                mode,
                uid: 0,
                gid: 0,
                user: None,
                group: None,
                size: 0,
            };
            assert_eq!(stat.mode_text(), format!("{mode:o}"));
            assert_eq!(stat.permissions_text(), format!("permissions={mode:o}"));
        }
    }
}
