//! Snapshot files: one JSON document (optionally gzip-compressed) holding every fact a
//! scan asked a node for, written by `cisgate collect` and answered offline by
//! [`SnapshotFacts`]. The format is specified in `docs/snapshot-format.md`.
//!
//! A snapshot answers only what was recorded: a question it holds no answer for is
//! [`FactError::NotRecorded`], never a guess.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arcstr::ArcStr;
use serde::{Deserialize, Serialize, Serializer};

use crate::sanitize;

use super::bounded::{self, Limit, ReadError};
use super::{
    FactError, Facts, FileKind, FileStat, NodeIdentity, Process, ProcessList, ShellCommand,
    ShellOutput,
};

/// The only snapshot format version this build reads and writes.
pub const SNAPSHOT_VERSION: u32 = 1;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Why a snapshot (file or directory) could not be loaded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot read snapshot {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("snapshot {} is not a complete gzip stream (truncated or corrupt): {reason}", path.display())]
    Gzip { path: PathBuf, reason: String },
    #[error("snapshot {}:{line}:{column}: invalid snapshot JSON{}: {message}", path.display(), if *.compressed { " (in the decompressed document)" } else { "" })]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        compressed: bool,
        message: String,
    },
    #[error("snapshot {}: snapshot_version {found} is not supported: this cisgate reads snapshot_version {SNAPSHOT_VERSION}", path.display())]
    Version { path: PathBuf, found: String },
    #[error("{}{}: {message}", path.display(), position.map(|(line, column)| format!(":{line}:{column}")).unwrap_or_default())]
    Metadata {
        path: PathBuf,
        /// Line and column (1-based), when known.
        position: Option<(u64, u64)>,
        message: String,
    },
    #[error("{} is not a snapshot: {reason}", path.display())]
    NotASnapshot { path: PathBuf, reason: String },
    /// A snapshot that cannot be used as a whole (past a size limit, an unreadable
    /// account database in a snapshot directory).
    #[error("snapshot {}: {reason}", path.display())]
    Unusable { path: PathBuf, reason: String },
}

/// The snapshot document, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub snapshot_version: u32,
    pub node: SnapshotNode,
    /// The source the facts came from, e.g. `live node (root /host)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// What was redacted before anything was stored.
    #[serde(default)]
    pub redactions: Redactions,
    /// Every process on the node (argv redacted); absent when never asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processes: Option<Vec<Process>>,
    /// Why the process list could not be read, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processes_error: Option<RecordedError>,
    /// File facts keyed by node path (written sorted by path).
    #[serde(default, serialize_with = "sorted_by_key")]
    pub files: FileRecords,
    /// Recursive listings (`find PATH`) keyed by the listed node path.
    #[serde(default)]
    pub trees: BTreeMap<String, TreeRecord>,
    /// Shell audit outputs keyed by the exact command as run on the node.
    #[serde(default)]
    pub shell: BTreeMap<String, ShellRecord>,
    #[serde(default)]
    pub api: ApiRecord,
}

/// A snapshot's files by node path. A hash map: a scan asks a node a hundred paths, and
/// a `BTreeMap`'s inserts and lookups (string compares down the tree) were 5% of a fleet
/// scan. Seeded per process, since the keys come from untrusted snapshots.
pub type FileRecords = HashMap<String, FileRecord, foldhash::quality::RandomState>;

/// A hash map written as a map sorted by key: the same facts give the same bytes.
fn sorted_by_key<S: Serializer, V: Serialize>(
    map: &HashMap<String, V, foldhash::quality::RandomState>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(sorted_entries(map))
}

fn sorted_entries<V, H>(map: &HashMap<String, V, H>) -> Vec<(&String, &V)> {
    let mut entries: Vec<(&String, &V)> = map.iter().collect();
    entries.sort_unstable_by_key(|(key, _)| *key);
    entries
}

/// Who the node is and when it was captured.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotNode {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The API server's version string (`kubectl version`), when it answered at collection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    /// RFC 3339 time of collection; absent when collected without a timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collected_at: Option<String>,
    /// The cluster the node belongs to (`collect --cluster`, else the kubeconfig's context).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
}

/// The redaction rules applied while collecting, and where they changed something.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redactions {
    #[serde(default)]
    pub rules: Vec<String>,
    /// One entry per fact that had something redacted, e.g. `file /etc/kubernetes/admin.conf: 1 value`.
    #[serde(default)]
    pub applied: BTreeSet<String>,
}

/// An error the source gave instead of an answer, replayed as the same error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "snake_case", deny_unknown_fields)]
pub enum RecordedError {
    Unreadable { path: String, reason: String },
    Timeout { command: String, seconds: u64 },
    Spawn { command: String, reason: String },
    Api { kind: String, reason: String },
}

impl RecordedError {
    /// The recordable form of an error; `None` for "not recorded", which is no fact at all.
    pub fn from_fact_error(error: &FactError) -> Option<Self> {
        Some(match error.clone() {
            FactError::Unreadable { path, reason } => Self::Unreadable { path, reason },
            FactError::Timeout { command, seconds } => Self::Timeout { command, seconds },
            FactError::Spawn { command, reason } => Self::Spawn { command, reason },
            FactError::Api { kind, reason } => Self::Api { kind, reason },
            FactError::NotRecorded { .. } => return None,
        })
    }

    pub fn to_fact_error(&self) -> FactError {
        match self.clone() {
            Self::Unreadable { path, reason } => FactError::Unreadable { path, reason },
            Self::Timeout { command, seconds } => FactError::Timeout { command, seconds },
            Self::Spawn { command, reason } => FactError::Spawn { command, reason },
            Self::Api { kind, reason } => FactError::Api { kind, reason },
        }
    }
}

/// Everything recorded about one node path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRecord {
    /// The path was looked for and does not exist.
    #[serde(default, skip_serializing_if = "is_false")]
    pub absent: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat: Option<StatRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat_error: Option<RecordedError>,
    /// Where the path points when it is a symlink (informational; `stat` follows it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symlink_target: Option<String>,
    /// The file's text (redacted), present only when a check read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_error: Option<RecordedError>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// `stat` of a path (symlinks followed), with the mode as an octal string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatRecord {
    pub kind: FileKind,
    #[serde(with = "octal_mode")]
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<ArcStr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<ArcStr>,
    #[serde(default)]
    pub size: u64,
}

impl From<&FileStat> for StatRecord {
    fn from(stat: &FileStat) -> Self {
        Self {
            kind: stat.kind,
            mode: stat.mode,
            uid: stat.uid,
            gid: stat.gid,
            user: stat.user.clone(),
            group: stat.group.clone(),
            size: stat.size,
        }
    }
}

impl From<&StatRecord> for FileStat {
    fn from(record: &StatRecord) -> Self {
        Self {
            kind: record.kind,
            mode: record.mode,
            uid: record.uid,
            gid: record.gid,
            user: record.user.clone(),
            group: record.group.clone(),
            size: record.size,
        }
    }
}

/// Modes are stored as `"0600"`: readable, and what `stat -c %a` users expect.
mod octal_mode {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(mode: &u32, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("{mode:04o}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_octal_mode(&text).map_err(serde::de::Error::custom)
    }
}

/// Parses `"600"`, `"0600"` or `"0o600"` into permission bits; anything else is an error
/// that says what was expected.
pub fn parse_octal_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    let valid = (1..=5).contains(&digits.len()) && digits.chars().all(|c| ('0'..='7').contains(&c));
    match valid.then(|| u32::from_str_radix(digits, 8).ok()).flatten() {
        Some(mode) if mode <= 0o7777 => Ok(mode),
        _ => Err(format!(
            "invalid mode `{text}`: expected octal permission bits like \"0600\" (digits 0-7, at most 7777)"
        )),
    }
}

/// A recursive listing, or why it failed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreeRecord {
    #[serde(default)]
    pub paths: Arc<[String]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RecordedError>,
}

/// A shell audit's output and exit status, or why it could not run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShellRecord {
    #[serde(default)]
    pub output: String,
    #[serde(default)]
    pub exit_code: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RecordedError>,
}

impl ShellRecord {
    pub fn answer(&self) -> Result<ShellOutput, FactError> {
        match &self.error {
            Some(error) => Err(error.to_fact_error()),
            None => Ok(ShellOutput {
                output: self.output.clone(),
                exit_code: self.exit_code,
            }),
        }
    }
}

/// API objects by kind, when collected with cluster access.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiRecord {
    #[serde(default)]
    pub reachable: bool,
    #[serde(default)]
    pub kinds: BTreeMap<String, ApiKindRecord>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKindRecord {
    #[serde(default)]
    pub items: super::ApiObjects,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RecordedError>,
}

/// Node paths as keys: `//` collapsed, `.` segments and a trailing `/` dropped.
/// `..` is kept: only the node can say where it leads.
pub fn normalize_node_path(path: &str) -> String {
    normalized_node_path(path).into_owned()
}

/// [`normalize_node_path`], borrowing a path already in normal form (most lookups: a
/// snapshot is asked a hundred paths per node).
fn normalized_node_path(path: &str) -> std::borrow::Cow<'_, str> {
    if is_normal_node_path(path) {
        return path.into();
    }
    let parts: Vec<&str> = path
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect();
    format!("/{}", parts.join("/")).into()
}

/// `/` or an absolute path whose every segment is neither empty nor `.`.
fn is_normal_node_path(path: &str) -> bool {
    // Most paths hold neither `//` nor `/.`: one pass without branches (it vectorizes)
    // decides them, cheaper than a walk over every segment or two substring searches (a
    // fleet scan asks ~280 paths per node).
    let bytes = path.as_bytes();
    let pairs = bytes.iter().zip(bytes.get(1..).unwrap_or_default());
    let slash_then_slash_or_dot = pairs.fold(0u8, |found, (&first, &second)| {
        found | (u8::from(first == b'/') & (u8::from(second == b'/') | u8::from(second == b'.')))
    });
    let plainly_normal =
        bytes.first() == Some(&b'/') && bytes.last() != Some(&b'/') && slash_then_slash_or_dot == 0;
    plainly_normal || has_only_normal_segments(path)
}

fn has_only_normal_segments(path: &str) -> bool {
    match path.as_bytes() {
        b"/" => true,
        [b'/', segments @ ..] => segments
            .split(|&byte| byte == b'/')
            .all(|segment| !segment.is_empty() && segment != b"."),
        _ => false,
    }
}

impl Snapshot {
    /// An empty snapshot of a node: nothing recorded yet.
    pub fn new(node: SnapshotNode) -> Self {
        Self {
            snapshot_version: SNAPSHOT_VERSION,
            node,
            source: None,
            redactions: Redactions::default(),
            processes: None,
            processes_error: None,
            files: FileRecords::default(),
            trees: BTreeMap::new(),
            shell: BTreeMap::new(),
            api: ApiRecord::default(),
        }
    }

    /// Reads a snapshot file, gzip-compressed or not (decided by its first bytes).
    pub fn load(path: &Path) -> Result<Self, SnapshotError> {
        let bytes = bounded::read_regular(path, Limit::Snapshot, true).map_err(|error| {
            SnapshotError::Io {
                path: path.to_path_buf(),
                source: error.into(),
            }
        })?;
        Self::from_bytes(&bytes, path)
    }

    /// Parses snapshot bytes; `path` names the file in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, SnapshotError> {
        let compressed = bytes.starts_with(&GZIP_MAGIC);
        let decompressed;
        let json = if compressed {
            decompressed = gunzip(bytes, path)?;
            &decompressed[..]
        } else {
            bytes
        };
        // Valid UTF-8 as a whole (the usual case) is parsed as text, without checking each
        // string again; anything else through the byte reader, which names the bad byte.
        let parsed = match std::str::from_utf8(json) {
            Ok(text) => serde_json::from_str::<Snapshot>(text),
            Err(_) => serde_json::from_slice::<Snapshot>(json),
        };
        match parsed {
            Ok(snapshot) if snapshot.snapshot_version == SNAPSHOT_VERSION => Ok(snapshot),
            Ok(snapshot) => Err(SnapshotError::Version {
                path: path.to_path_buf(),
                found: snapshot.snapshot_version.to_string(),
            }),
            Err(error) => Err(explain_parse_error(json, error, path, compressed)),
        }
    }

    /// The document as pretty JSON with a trailing newline: stable for the same facts.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a snapshot always serializes");
        bytes.push(b'\n');
        bytes
    }

    /// The document gzip-compressed (header without a timestamp, so output is reproducible).
    pub fn to_gzip_bytes(&self) -> Vec<u8> {
        let mut encoder = flate2::GzBuilder::new()
            .mtime(0)
            .write(Vec::new(), flate2::Compression::default());
        encoder
            .write_all(&self.to_json_bytes())
            .and_then(|()| encoder.try_finish())
            .expect("writing to memory cannot fail");
        encoder.finish().expect("writing to memory cannot fail")
    }

    /// The bytes to write at `path`: gzip when it ends in `.gz`, plain JSON otherwise.
    pub fn bytes_for_path(&self, path: &Path) -> Vec<u8> {
        if path.extension().is_some_and(|ext| ext == "gz") {
            self.to_gzip_bytes()
        } else {
            self.to_json_bytes()
        }
    }

    /// Every fact the source could not give, one line each, for `collect` to report.
    pub fn unreadable_facts(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(error) = &self.processes_error {
            lines.push(format!("processes: {}", error.to_fact_error()));
        }
        for (path, record) in sorted_entries(&self.files) {
            for error in [&record.stat_error, &record.content_error]
                .into_iter()
                .flatten()
            {
                lines.push(format!("file {path}: {}", error.to_fact_error()));
            }
        }
        for (path, record) in &self.trees {
            if let Some(error) = &record.error {
                lines.push(format!("listing {path}: {}", error.to_fact_error()));
            }
        }
        for (command, record) in &self.shell {
            if let Some(error) = &record.error {
                lines.push(format!("shell `{command}`: {}", error.to_fact_error()));
            }
        }
        for (kind, record) in &self.api.kinds {
            if let Some(error) = &record.error {
                lines.push(format!("api {kind}: {}", error.to_fact_error()));
            }
        }
        lines
    }

    /// Whether a recorded listing of an ancestor proves that `path` does not exist.
    ///
    /// Sound only where the listing is complete: a listed directory that has listed
    /// children was descended into, so its children are all there; a listed entry
    /// without children may be a symlink `find` did not follow, so it proves nothing.
    fn listing_proves_absent(&self, path: &str) -> bool {
        self.trees.iter().any(|(root, tree)| {
            if tree.error.is_some() {
                return false;
            }
            if path == root.as_str() && tree.paths.is_empty() {
                return true;
            }
            let Some(rest) = strip_node_prefix(path, root) else {
                return false;
            };
            if tree.paths.is_empty() {
                return true; // the listed root itself does not exist
            }
            let mut prefix = root.trim_end_matches('/').to_string();
            for component in rest.split('/') {
                let parent = prefix.clone();
                prefix = format!("{prefix}/{component}");
                let parent_was_descended = tree.paths.iter().any(|p| is_below(p, &parent));
                if !parent_was_descended {
                    return false;
                }
                if !tree.paths.contains(&prefix) {
                    return true;
                }
            }
            false
        }) || self
            .files
            .iter()
            .any(|(other, record)| record.absent && strip_node_prefix(path, other).is_some())
    }

    fn not_recorded(what: String) -> FactError {
        FactError::NotRecorded { what }
    }
}

/// `rest` of `path` below `ancestor` (`a/b` for `/x/a/b` below `/x`); `None` when not strictly below.
fn strip_node_prefix<'a>(path: &'a str, ancestor: &str) -> Option<&'a str> {
    let ancestor = ancestor.trim_end_matches('/');
    path.strip_prefix(ancestor)?
        .strip_prefix('/')
        .filter(|rest| !rest.is_empty())
}

fn is_below(path: &str, ancestor: &str) -> bool {
    strip_node_prefix(path, ancestor).is_some()
}

/// Inflates at most `--max-snapshot-size` bytes: a gzip bomb is an error, not an abort.
fn gunzip(bytes: &[u8], path: &Path) -> Result<Vec<u8>, SnapshotError> {
    let hint = uncompressed_size_hint(bytes);
    bounded::gunzip_limited(bytes, Limit::Snapshot, hint).map_err(|error| match error {
        ReadError::TooLarge { .. } => SnapshotError::Unusable {
            path: path.to_path_buf(),
            reason: format!(
                "inflates to more than {}",
                error.to_string().trim_start_matches("larger than ")
            ),
        },
        other => SnapshotError::Gzip {
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    })
}

/// The size gzip's trailer records (modulo 4 GiB, of the last member only), as a first
/// capacity: the decoder then fills one buffer instead of growing it step by step. Only a
/// hint, so it is capped.
fn uncompressed_size_hint(gzip: &[u8]) -> usize {
    const CAP: usize = 64 << 20;
    gzip.len()
        .checked_sub(4)
        .and_then(|at| gzip.get(at..))
        .and_then(|tail| <[u8; 4]>::try_from(tail).ok())
        .map_or(0, |tail| (u32::from_le_bytes(tail) as usize).min(CAP))
}

/// A parse failure is a version problem when the document names another version;
/// otherwise it is bad JSON at a line and column.
fn explain_parse_error(
    json: &[u8],
    error: serde_json::Error,
    path: &Path,
    compressed: bool,
) -> SnapshotError {
    #[derive(Deserialize)]
    struct VersionOnly {
        snapshot_version: Option<serde_json::Value>,
    }
    if let Ok(VersionOnly { snapshot_version }) = serde_json::from_slice::<VersionOnly>(json) {
        let supported = serde_json::Value::from(SNAPSHOT_VERSION);
        match snapshot_version {
            Some(found) if found != supported => {
                return SnapshotError::Version {
                    path: path.to_path_buf(),
                    found: sanitize::excerpt(&found.to_string()),
                }
            }
            None => {
                return SnapshotError::Version {
                    path: path.to_path_buf(),
                    found: "(missing)".into(),
                }
            }
            Some(_) => {}
        }
    }
    SnapshotError::Json {
        path: path.to_path_buf(),
        line: error.line(),
        column: error.column(),
        compressed,
        message: sanitize::excerpt(&message_without_position(&error)),
    }
}

/// serde_json appends ` at line L column C`; the error names the position itself.
fn message_without_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(index) => text[..index].to_string(),
        None => text,
    }
}

/// A snapshot file answering the `Facts` questions it recorded answers for.
pub struct SnapshotFacts {
    path: PathBuf,
    snapshot: Snapshot,
    /// The recorded process list, moved out of the snapshot once (not copied: every check
    /// that asks shares it).
    processes: Option<ProcessList>,
}

impl Drop for SnapshotFacts {
    fn drop(&mut self) {
        let objects: usize = self
            .snapshot
            .api
            .kinds
            .values()
            .map(|k| k.items.len())
            .sum();
        crate::sync::drop_aside(objects, std::mem::take(&mut self.snapshot.api.kinds));
    }
}

impl SnapshotFacts {
    pub fn load(path: &Path) -> Result<Self, SnapshotError> {
        Ok(Self::new(path.to_path_buf(), Snapshot::load(path)?))
    }

    pub fn new(path: PathBuf, mut snapshot: Snapshot) -> Self {
        let processes = snapshot.processes.take().map(ProcessList::from);
        Self {
            path,
            snapshot,
            processes,
        }
    }

    fn file(&self, path: &str) -> Option<&FileRecord> {
        self.snapshot.files.get(path)
    }
}

/// The file name without `.json` / `.json.gz`, the node's name when the snapshot has none.
pub fn node_name_from_path(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    name.strip_suffix(".json").unwrap_or(name).to_string()
}

impl Facts for SnapshotFacts {
    fn identity(&self) -> NodeIdentity {
        let node = &self.snapshot.node;
        NodeIdentity {
            name: if node.name.is_empty() {
                node_name_from_path(&self.path)
            } else {
                node.name.clone()
            },
            roles: node.roles.clone(),
            kubernetes_version: node.kubernetes_version.clone(),
            platform: node.platform.clone(),
            server_version: node.server_version.clone(),
            cluster: node.cluster.clone(),
        }
    }

    fn describe(&self) -> String {
        match &self.snapshot.node.collected_at {
            Some(at) => format!("snapshot file {} (collected {at})", self.path.display()),
            None => format!("snapshot file {}", self.path.display()),
        }
    }

    fn processes(&self) -> Result<ProcessList, FactError> {
        if let Some(error) = &self.snapshot.processes_error {
            return Err(error.to_fact_error());
        }
        self.processes
            .clone()
            .ok_or_else(|| Snapshot::not_recorded("the process list".into()))
    }

    fn stat(&self, path: &str) -> Result<Option<FileStat>, FactError> {
        let path = normalized_node_path(path);
        if let Some(record) = self.file(&path) {
            if record.absent {
                return Ok(None);
            }
            if let Some(error) = &record.stat_error {
                return Err(error.to_fact_error());
            }
            if let Some(stat) = &record.stat {
                return Ok(Some(stat.into()));
            }
        }
        if self.snapshot.listing_proves_absent(&path) {
            return Ok(None);
        }
        Err(Snapshot::not_recorded(format!("stat of {path}")))
    }

    fn read_file(&self, path: &str) -> Result<Option<String>, FactError> {
        let path = normalized_node_path(path);
        if let Some(record) = self.file(&path) {
            if record.absent {
                return Ok(None);
            }
            if let Some(error) = &record.content_error {
                return Err(error.to_fact_error());
            }
            if let Some(content) = &record.content {
                return Ok(Some(content.clone()));
            }
        }
        if self.snapshot.listing_proves_absent(&path) {
            return Ok(None);
        }
        Err(Snapshot::not_recorded(format!("the content of {path}")))
    }

    fn list_tree(&self, path: &str) -> Result<Arc<[String]>, FactError> {
        let path = normalized_node_path(path);
        if let Some(tree) = self.snapshot.trees.get(path.as_ref()) {
            return match &tree.error {
                Some(error) => Err(error.to_fact_error()),
                None => Ok(Arc::clone(&tree.paths)),
            };
        }
        if self.file(&path).is_some_and(|record| record.absent)
            || self.snapshot.listing_proves_absent(&path)
        {
            return Ok(Arc::default());
        }
        Err(Snapshot::not_recorded(format!("the listing of {path}")))
    }

    fn run_shell(&self, command: &ShellCommand) -> Result<ShellOutput, FactError> {
        match self.snapshot.shell.get(&command.on_node) {
            Some(record) => record.answer(),
            None => Err(Snapshot::not_recorded(format!(
                "the output of `{}`",
                command.on_node
            ))),
        }
    }

    fn shell_path_prefix(&self) -> &str {
        ""
    }

    fn api_objects(&self, kind: &str) -> Result<crate::facts::ApiObjects, FactError> {
        match self.snapshot.api.kinds.get(kind) {
            Some(ApiKindRecord {
                error: Some(error), ..
            }) => Err(error.to_fact_error()),
            Some(record) => Ok(std::sync::Arc::clone(&record.items)),
            None => Err(Snapshot::not_recorded(format!(
                "API objects of kind {kind}"
            ))),
        }
    }

    fn api_reachable(&self) -> bool {
        self.snapshot.api.reachable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_paths_are_normalized_to_one_spelling() {
        for (path, normal) in [
            ("/etc/kubernetes/admin.conf", "/etc/kubernetes/admin.conf"),
            ("/", "/"),
            ("", "/"),
            ("etc/kubernetes", "/etc/kubernetes"),
            ("/etc//kubernetes/", "/etc/kubernetes"),
            ("/etc/./kubernetes/.", "/etc/kubernetes"),
            ("/etc/../kubernetes", "/etc/../kubernetes"),
        ] {
            assert_eq!(normalize_node_path(path), normal, "{path:?}");
        }
    }

    #[test]
    fn a_path_is_borrowed_exactly_when_it_is_already_normal() {
        for path in [
            "/", "", "/a", "a", "/a/", "//", "/a//b", "/a/./b", "/a/.", "/.", "/./a", "/a/..",
            "/..", "/a/.b", "/a/b.", "/.a", "/a/b/c",
        ] {
            let slow: Vec<&str> = path
                .split('/')
                .filter(|p| !p.is_empty() && *p != ".")
                .collect();
            let normal = format!("/{}", slow.join("/"));
            assert_eq!(is_normal_node_path(path), path == normal, "{path:?}");
            assert_eq!(normalize_node_path(path), normal, "{path:?}");
        }
    }

    #[test]
    fn a_repeated_path_keeps_its_last_record() {
        let json = r#"{"snapshot_version": 1, "node": {"name": "n"},
            "redactions": {"applied": ["b", "a", "b"]},
            "files": {"/z": {"absent": true}, "/a": {"content": "first"}, "/a": {"content": "last"}},
            "shell": {"id": {"output": "x"}}}"#;
        let snapshot: Snapshot = serde_json::from_str(json).unwrap();
        let paths: Vec<&str> = sorted_entries(&snapshot.files)
            .into_iter()
            .map(|(path, _)| path.as_str())
            .collect();
        assert_eq!(paths, ["/a", "/z"]);
        assert_eq!(snapshot.files["/a"].content.as_deref(), Some("last"));
        assert!(snapshot.files["/z"].absent);
        assert_eq!(snapshot.shell["id"].output, "x");
        let applied: Vec<&str> = snapshot
            .redactions
            .applied
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(applied, ["a", "b"]);
        let error = serde_json::from_str::<Snapshot>(
            r#"{"snapshot_version": 1, "node": {}, "files": ["/a"]}"#,
        )
        .unwrap_err();
        assert!(error.to_string().contains("expected a map"), "{error}");
    }

    #[test]
    fn files_are_written_sorted_by_path_whatever_order_they_were_recorded_in() {
        let mut snapshot = Snapshot::new(SnapshotNode::default());
        for path in ["/z", "/a", "/m/b", "/m"] {
            snapshot.files.insert(
                path.into(),
                FileRecord {
                    absent: true,
                    ..FileRecord::default()
                },
            );
        }
        let json = String::from_utf8(snapshot.to_json_bytes()).unwrap();
        let at = |path: &str| json.find(&format!("\"{path}\": {{")).unwrap();
        assert!(
            at("/a") < at("/m") && at("/m") < at("/m/b") && at("/m/b") < at("/z"),
            "{json}"
        );
    }

    fn stat_record(kind: FileKind, mode: u32) -> StatRecord {
        StatRecord {
            kind,
            mode,
            uid: 0,
            gid: 0,
            user: Some("root".into()),
            group: Some("root".into()),
            size: 10,
        }
    }

    fn sample() -> Snapshot {
        let mut snapshot = Snapshot::new(SnapshotNode {
            name: "cp-1".into(),
            roles: vec!["control-plane".into()],
            kubernetes_version: Some("1.33.1".into()),
            platform: None,
            server_version: None,
            collected_at: None,
            cluster: None,
        });
        snapshot.processes = Some(vec![Process {
            pid: 7,
            comm: "kubelet".into(),
            argv: vec![
                "/usr/bin/kubelet".into(),
                "--config=/var/lib/kubelet/config.yaml".into(),
            ],
        }]);
        snapshot.files.insert(
            "/etc/kubernetes/admin.conf".into(),
            FileRecord {
                stat: Some(stat_record(FileKind::File, 0o600)),
                ..FileRecord::default()
            },
        );
        snapshot.files.insert(
            "/etc/kubernetes/missing.conf".into(),
            FileRecord {
                absent: true,
                ..FileRecord::default()
            },
        );
        snapshot.trees.insert(
            "/etc/kubernetes/pki".into(),
            TreeRecord {
                paths: vec![
                    "/etc/kubernetes/pki".into(),
                    "/etc/kubernetes/pki/ca.crt".into(),
                    "/etc/kubernetes/pki/etcd".into(),
                    "/etc/kubernetes/pki/etcd/ca.crt".into(),
                    "/etc/kubernetes/pki/link".into(),
                ]
                .into(),
                error: None,
            },
        );
        snapshot.shell.insert(
            "ps -ef | grep kubelet".into(),
            ShellRecord {
                output: "root 7 kubelet\n".into(),
                exit_code: 0,
                error: None,
            },
        );
        snapshot
    }

    fn facts(snapshot: Snapshot) -> SnapshotFacts {
        SnapshotFacts::new(PathBuf::from("cp-1.json"), snapshot)
    }

    #[test]
    fn json_round_trip_keeps_every_fact() {
        let snapshot = sample();
        let parsed = Snapshot::from_bytes(&snapshot.to_json_bytes(), Path::new("x.json")).unwrap();
        assert_eq!(parsed, snapshot);
    }

    #[test]
    fn gzip_round_trip_is_reproducible() {
        let snapshot = sample();
        let bytes = snapshot.to_gzip_bytes();
        assert_eq!(bytes, snapshot.to_gzip_bytes());
        let parsed = Snapshot::from_bytes(&bytes, Path::new("x.json.gz")).unwrap();
        assert_eq!(parsed, snapshot);
    }

    #[test]
    fn mode_is_stored_as_four_octal_digits() {
        let json = String::from_utf8(sample().to_json_bytes()).unwrap();
        assert!(json.contains("\"mode\": \"0600\""), "{json}");
    }

    #[test]
    fn parse_octal_mode_rejects_non_octal_digits() {
        assert_eq!(parse_octal_mode("0600"), Ok(0o600));
        assert_eq!(parse_octal_mode("644"), Ok(0o644));
        assert_eq!(parse_octal_mode("0o1777"), Ok(0o1777));
        assert!(parse_octal_mode("0999").unwrap_err().contains("`0999`"));
        assert!(parse_octal_mode("").is_err());
        assert!(parse_octal_mode("17777").is_err());
    }

    #[test]
    fn recorded_stat_and_absent_paths_are_answered() {
        let facts = facts(sample());
        let stat = facts.stat("/etc/kubernetes//admin.conf").unwrap().unwrap();
        assert_eq!(stat.mode_text(), "600");
        assert_eq!(stat.owner_text(), "root:root");
        assert_eq!(facts.stat("/etc/kubernetes/missing.conf").unwrap(), None);
        assert_eq!(
            facts.read_file("/etc/kubernetes/missing.conf").unwrap(),
            None
        );
    }

    #[test]
    fn unrecorded_questions_are_not_recorded_errors() {
        let facts = facts(sample());
        assert!(matches!(
            facts.stat("/etc/kubernetes/other.conf"),
            Err(FactError::NotRecorded { .. })
        ));
        // stat was recorded, content was not
        assert!(matches!(
            facts.read_file("/etc/kubernetes/admin.conf"),
            Err(FactError::NotRecorded { .. })
        ));
        let unknown = ShellCommand {
            on_node: "ps -ef | grep etcd".into(),
            to_run: "ps -ef | grep etcd".into(),
        };
        assert!(matches!(
            facts.run_shell(&unknown),
            Err(FactError::NotRecorded { .. })
        ));
        assert!(matches!(
            facts.api_objects("pods"),
            Err(FactError::NotRecorded { .. })
        ));
    }

    #[test]
    fn a_recorded_listing_proves_children_absent_only_where_complete() {
        let facts = facts(sample());
        // pki was descended into and has no `ca.key`
        assert_eq!(facts.stat("/etc/kubernetes/pki/ca.key").unwrap(), None);
        // pki/etcd was descended into
        assert_eq!(
            facts.stat("/etc/kubernetes/pki/etcd/peer.key").unwrap(),
            None
        );
        // `link` has no listed children: it may be a symlink find did not follow
        assert!(matches!(
            facts.stat("/etc/kubernetes/pki/link/x"),
            Err(FactError::NotRecorded { .. })
        ));
        // listed but never stat'ed
        assert!(matches!(
            facts.stat("/etc/kubernetes/pki/ca.crt"),
            Err(FactError::NotRecorded { .. })
        ));
        assert_eq!(facts.list_tree("/etc/kubernetes/pki").unwrap().len(), 5);
    }

    #[test]
    fn recorded_errors_replay_as_the_same_error() {
        let mut snapshot = sample();
        let error = FactError::Unreadable {
            path: "/etc/shadow".into(),
            reason: "Permission denied (os error 13)".into(),
        };
        snapshot.files.insert(
            "/etc/shadow".into(),
            FileRecord {
                content_error: RecordedError::from_fact_error(&error),
                ..FileRecord::default()
            },
        );
        assert_eq!(
            snapshot.unreadable_facts(),
            vec!["file /etc/shadow: cannot read /etc/shadow: Permission denied (os error 13)"]
        );
        let facts = facts(snapshot);
        assert_eq!(facts.read_file("/etc/shadow").unwrap_err(), error);
    }

    #[test]
    fn shell_outputs_replay_by_the_on_node_command() {
        let facts = facts(sample());
        let command = ShellCommand {
            on_node: "ps -ef | grep kubelet".into(),
            to_run: "ps -ef | grep /host/kubelet".into(),
        };
        assert_eq!(
            facts.run_shell(&command).unwrap().output,
            "root 7 kubelet\n"
        );
    }

    #[test]
    fn identity_falls_back_to_the_file_name() {
        let mut snapshot = sample();
        snapshot.node.name.clear();
        let facts = SnapshotFacts::new(PathBuf::from("/tmp/nodes/worker-7.json.gz"), snapshot);
        assert_eq!(facts.identity().name, "worker-7");
    }

    #[test]
    fn wrong_version_is_named() {
        let error = Snapshot::from_bytes(
            br#"{"snapshot_version": 2, "node": {}}"#,
            Path::new("n.json"),
        )
        .unwrap_err();
        assert!(
            matches!(&error, SnapshotError::Version { found, .. } if found == "2"),
            "{error}"
        );
        let error = Snapshot::from_bytes(br#"{"node": {}}"#, Path::new("n.json")).unwrap_err();
        assert!(error.to_string().contains("(missing)"), "{error}");
    }

    #[test]
    fn bad_json_names_line_and_column() {
        let error = Snapshot::from_bytes(
            b"{\n  \"snapshot_version\": 1,\n  \"node\": 5\n}",
            Path::new("n.json"),
        )
        .unwrap_err();
        let text = error.to_string();
        assert!(
            matches!(error, SnapshotError::Json { line: 3, .. }),
            "{text}"
        );
        assert!(text.starts_with("snapshot n.json:3:"), "{text}");
    }
}
