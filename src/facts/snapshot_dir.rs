//! Snapshot directories: a tree laid out like a node's root filesystem
//! (`etc/kubernetes/manifests/kube-apiserver.yaml`, `var/lib/kubelet/config.yaml`, ...),
//! as a team keeps it in git or unpacks it from a node backup.
//!
//! - An optional metadata file, [`METADATA_FILE`] at the top, carries what git cannot:
//!   modes and owners, paths that exist on the node but not in the tree, the node's
//!   identity, extra processes and recorded shell outputs.
//! - Symlinks resolve as in a chroot: an absolute target starts again at the snapshot
//!   root and `..` stops at it, so no link ever reaches the scanning machine's files.
//! - Processes are derived from static pod manifests and the kubelet unit (`derive`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use arcstr::ArcStr;
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;

use super::bounded::{self, Limit};
use super::derive::{comm_of, derive_processes, DerivedProcess};
use super::path_pattern::{path_segments, SimplePattern};
use super::rooted::{self, Resolved};
use super::snapshot::{normalize_node_path, parse_octal_mode, ShellRecord, SnapshotError};
use super::{
    FactError, Facts, FileKind, FileStat, NodeIdentity, Process, ProcessList, ShellCommand,
    ShellOutput,
};
use crate::matching::block_yaml;
use crate::sanitize;
use crate::sync::locked;

/// The metadata file at the top of a snapshot directory.
pub const METADATA_FILE: &str = "cisgate-node.yaml";

/// Symlinks followed while resolving one path before giving up (Linux's limit).

// ---------------------------------------------------------------------------------------
// The metadata file

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Metadata {
    #[serde(default)]
    node: MetadataNode,
    #[serde(default)]
    files: Vec<FileRule>,
    #[serde(default)]
    processes: Vec<ExtraProcess>,
    #[serde(default)]
    shell: BTreeMap<String, ShellRecord>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetadataNode {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    roles: Option<Vec<String>>,
    #[serde(default)]
    kubernetes_version: Option<String>,
    #[serde(default)]
    platform: Option<String>,
    #[serde(default)]
    server_version: Option<String>,
    #[serde(default)]
    cluster: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRule {
    /// A node path or a glob (`*` stays within one directory, `**` crosses them).
    path: Spanned<String>,
    #[serde(default)]
    mode: Option<Mode>,
    /// `USER:GROUP`, each a name or a number.
    #[serde(default)]
    owner: Option<Spanned<String>>,
    /// Declares that an exact path exists on the node although the tree lacks it
    /// (git keeps no empty directories).
    #[serde(default)]
    kind: Option<FileKind>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtraProcess {
    argv: Vec<String>,
    #[serde(default)]
    comm: Option<String>,
    #[serde(default)]
    pid: Option<u32>,
}

/// A permission mode written as `"0600"`, `0600`, `600` or `"0o600"`.
#[derive(Debug, Clone, Copy)]
struct Mode(u32);

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ModeVisitor;
        impl serde::de::Visitor<'_> for ModeVisitor {
            type Value = Mode;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an octal mode such as \"0600\"")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Mode, E> {
                parse_octal_mode(text).map(Mode).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, number: u64) -> Result<Mode, E> {
                // an unquoted `600` means the octal digits 600
                self.visit_str(&number.to_string())
            }
            fn visit_i64<E: serde::de::Error>(self, number: i64) -> Result<Mode, E> {
                self.visit_str(&number.to_string())
            }
        }
        deserializer.deserialize_any(ModeVisitor)
    }
}

/// By node path, with a randomly seeded hasher (the paths come from the snapshot) faster
/// than the standard library's SipHash, which was 1.2% of a snapshot directory's scan.
type ByNodePath<V> = HashMap<String, V, foldhash::quality::RandomState>;

/// A metadata `files` entry ready to match node paths.
struct CompiledRule {
    mode: Option<u32>,
    owner: Option<Owner>,
}

/// Which rules (by index, in file order) a node path matches: the exact paths by string,
/// patterns of `*` and `**` segment by segment ([`SimplePattern`]), and any other pattern
/// through one [`globset::GlobSet`] (compiled once for all of them; a `GlobMatcher` per rule
/// compiled a regex each and ran every one on every `stat`).
#[derive(Default)]
struct RuleMatcher {
    exact: ByNodePath<Vec<usize>>,
    /// Each simple pattern with its rule index.
    simple: Vec<(SimplePattern, usize)>,
    patterns: Option<globset::GlobSet>,
    /// The rule index of each pattern of `patterns`, in the set's order.
    pattern_rules: Vec<usize>,
}

impl RuleMatcher {
    fn matching(&self, node_path: &str) -> Vec<usize> {
        let mut rules: Vec<usize> = self.exact.get(node_path).cloned().unwrap_or_default();
        if !self.simple.is_empty() {
            let segments = path_segments(node_path);
            rules.extend(
                self.simple
                    .iter()
                    .filter(|(pattern, _)| pattern.matches_segments(&segments))
                    .map(|&(_, index)| index),
            );
        }
        if let Some(patterns) = &self.patterns {
            rules.extend(
                patterns
                    .matches(node_path)
                    .into_iter()
                    .map(|index| self.pattern_rules[index]),
            );
        }
        rules.sort_unstable(); // later rules override earlier ones
        rules
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Owner {
    uid: u32,
    user: Option<ArcStr>,
    gid: u32,
    group: Option<ArcStr>,
}

/// Users and groups from the snapshot's own `etc/passwd` and `etc/group`, plus `root` = 0.
#[derive(Debug, Default)]
struct Accounts {
    users: BTreeMap<u32, ArcStr>,
    groups: BTreeMap<u32, ArcStr>,
}

impl Accounts {
    fn parse(passwd: Option<&str>, group: Option<&str>) -> Self {
        Self {
            users: parse_id_file(passwd.unwrap_or_default()),
            groups: parse_id_file(group.unwrap_or_default()),
        }
    }

    fn user_name(&self, uid: u32) -> Option<ArcStr> {
        name_of(&self.users, uid)
    }

    fn group_name(&self, gid: u32) -> Option<ArcStr> {
        name_of(&self.groups, gid)
    }
}

fn name_of(names: &BTreeMap<u32, ArcStr>, id: u32) -> Option<ArcStr> {
    names
        .get(&id)
        .cloned()
        .or_else(|| (id == 0).then(|| arcstr::literal!("root")))
}

fn id_of(names: &BTreeMap<u32, ArcStr>, name: &str) -> Option<u32> {
    if name == "root" {
        return Some(0);
    }
    names
        .iter()
        .find(|(_, known)| known.as_str() == name)
        .map(|(id, _)| *id)
}

/// `name:x:id:...` lines of passwd(5) and group(5); the first name for an id wins.
fn parse_id_file(text: &str) -> BTreeMap<u32, ArcStr> {
    let mut ids = BTreeMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if let (Some(name), Some(Ok(id))) = (fields.first(), fields.get(2).map(|id| id.parse())) {
            if !name.is_empty() && !name.starts_with('#') {
                ids.entry(id).or_insert_with(|| ArcStr::from(*name));
            }
        }
    }
    ids
}

// ---------------------------------------------------------------------------------------
// The source

pub struct SnapshotDirFacts {
    root: PathBuf,
    /// The root as the user named it, for the source files reports point at.
    named_root: PathBuf,
    metadata: Metadata,
    rules: Vec<CompiledRule>,
    rule_matcher: RuleMatcher,
    declared: BTreeMap<String, FileKind>,
    accounts: Accounts,
    derived: OnceLock<Result<Vec<NodeProcess>, FactError>>,
    processes: OnceLock<Result<ProcessList, FactError>>,
    /// The directories and missing paths already found under the root (one `lstat` each).
    seen: rooted::Seen,
    /// What `stat` and `read_file` answered, by node path: a node's checks ask about the
    /// same manifests and kubeconfigs dozens of times. Errors are not kept.
    stats: Mutex<ByNodePath<Option<FileStat>>>,
    contents: Mutex<ByNodePath<Option<Arc<str>>>>,
    /// What `list_tree` answered, by node path: several checks walk the same PKI tree.
    trees: Mutex<ByNodePath<Arc<[String]>>>,
}

/// A process of the node, with the container image it runs from (static pods).
#[derive(Debug, Clone)]
struct NodeProcess {
    process: Process,
    image: Option<String>,
}

impl SnapshotDirFacts {
    /// Opens a snapshot directory and reads its metadata file, if any.
    pub fn open(root: &Path) -> Result<Self, SnapshotError> {
        let named_root = root.to_path_buf();
        let root = root.canonicalize().map_err(|source| SnapshotError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        if !root.is_dir() {
            return Err(SnapshotError::NotASnapshot {
                path: root,
                reason: "a snapshot directory must be a directory".into(),
            });
        }
        let mut facts = Self {
            root,
            named_root,
            metadata: Metadata::default(),
            rules: Vec::new(),
            rule_matcher: RuleMatcher::default(),
            declared: BTreeMap::new(),
            accounts: Accounts::default(),
            derived: OnceLock::new(),
            processes: OnceLock::new(),
            seen: rooted::Seen::default(),
            stats: Mutex::default(),
            contents: Mutex::default(),
            trees: Mutex::default(),
        };
        facts.accounts = Accounts::parse(
            facts.account_database("/etc/passwd")?.as_deref(),
            facts.account_database("/etc/group")?.as_deref(),
        );
        let metadata_path = facts.root.join(METADATA_FILE);
        // Resolved inside the snapshot like every other path: a symlink never leaves it.
        let resolved = rooted::resolve_with_metadata(&facts.root, METADATA_FILE, true, &facts.seen)
            .map_err(|source| SnapshotError::Io {
                path: metadata_path.clone(),
                source,
            })?;
        if let (Resolved::Found(resolved), lstat) = resolved {
            let text = read_metadata(&resolved, lstat.as_ref(), &metadata_path)?;
            facts.metadata = parse_metadata(&text, &metadata_path, Positions::Unknown)?;
            if facts.compile_rules(&metadata_path).is_err() {
                // Read quickly, the rules have no positions: read again to say where.
                facts.metadata = parse_metadata(&text, &metadata_path, Positions::Known)?;
                facts.compile_rules(&metadata_path)?;
            }
        }
        Ok(facts)
    }

    /// `etc/passwd` or `etc/group`, absent or read; one that cannot be read (a FIFO, a
    /// device, past the size limit) makes the node an error rather than its owners unknown.
    fn account_database(&self, node_path: &str) -> Result<Option<String>, SnapshotError> {
        self.read_file(node_path)
            .map_err(|error| SnapshotError::Unusable {
                path: self.named_root.clone(),
                reason: error.to_string(),
            })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn compile_rules(&mut self, metadata_path: &Path) -> Result<(), SnapshotError> {
        let error_at =
            |location: serde_saphyr::Location, message: String| SnapshotError::Metadata {
                path: metadata_path.to_path_buf(),
                position: Some((location.line(), location.column())),
                message,
            };
        // Built aside and kept only whole: a failed compile leaves the facts' rules as
        // they were.
        let mut rule_matcher = RuleMatcher::default();
        let mut declared = BTreeMap::new();
        let mut rules = Vec::new();
        let mut patterns = globset::GlobSetBuilder::new();
        for (index, rule) in self.metadata.files.iter().enumerate() {
            let pattern = normalize_node_path(&rule.path.value);
            let is_glob = pattern.contains(['*', '?', '[', '{']);
            // A path without glob syntax, or a pattern of `*` and `**` alone, is matched
            // without globset, and globset accepts every such pattern: it is compiled only
            // for the other patterns (which may be invalid).
            let simple = if is_glob {
                SimplePattern::parse(&pattern)
            } else {
                None
            };
            let literal = !is_glob && !pattern.contains([']', '}', '\\']);
            if let Some(simple) = simple {
                rule_matcher.simple.push((simple, index));
            } else if literal {
                rule_matcher
                    .exact
                    .entry(pattern.clone())
                    .or_default()
                    .push(index);
            } else {
                let glob = globset::GlobBuilder::new(&pattern)
                    .literal_separator(true)
                    .build()
                    .map_err(|error| {
                        error_at(
                            rule.path.referenced,
                            format!("invalid path pattern: {error}"),
                        )
                    })?;
                patterns.add(glob);
                rule_matcher.pattern_rules.push(index);
            }
            if let Some(kind) = rule.kind {
                if is_glob {
                    return Err(error_at(
                        rule.path.referenced,
                        format!("`kind` declares one path; `{pattern}` is a pattern"),
                    ));
                }
                declared.insert(pattern.clone(), kind);
            }
            let owner = match &rule.owner {
                Some(owner) => Some(
                    self.resolve_owner(&owner.value)
                        .map_err(|message| error_at(owner.referenced, message))?,
                ),
                None => None,
            };
            rules.push(CompiledRule {
                mode: rule.mode.map(|mode| mode.0),
                owner,
            });
        }
        if !rule_matcher.pattern_rules.is_empty() {
            let set = patterns.build().map_err(|error| SnapshotError::Metadata {
                path: metadata_path.to_path_buf(),
                position: None,
                message: format!("invalid path patterns: {error}"),
            })?;
            rule_matcher.patterns = Some(set);
        }
        self.rule_matcher = rule_matcher;
        self.declared = declared;
        self.rules = rules;
        Ok(())
    }

    fn resolve_owner(&self, text: &str) -> Result<Owner, String> {
        let (user, group) = text.split_once(':').ok_or_else(|| {
            format!("invalid owner `{text}`: expected USER:GROUP, e.g. root:root")
        })?;
        let (uid, user) = resolve_account(&self.accounts.users, user, "user", "etc/passwd")?;
        let (gid, group) = resolve_account(&self.accounts.groups, group, "group", "etc/group")?;
        Ok(Owner {
            uid,
            user,
            gid,
            group,
        })
    }

    /// [`Facts::stat`] without the memo.
    fn stat_uncached(&self, node_path: &str) -> Result<Option<FileStat>, FactError> {
        let node_path = node_path.to_owned();
        let (host, metadata) = match self.resolve_with_metadata(&node_path, true)? {
            (Resolved::Found(host), metadata) => (host, metadata),
            (Resolved::Missing, _) => return Ok(self.declared_stat(&node_path)),
        };
        let metadata = match metadata {
            Some(metadata) => metadata,
            None => self
                .seen
                .symlink_metadata(&host)
                .map_err(|error| io_fact_error(&node_path, &error))?,
        };
        let mut stat = FileStat {
            kind: FileKind::from(metadata.file_type()),
            mode: metadata.mode() & 0o7777,
            uid: metadata.uid(),
            gid: metadata.gid(),
            user: self.accounts.user_name(metadata.uid()),
            group: self.accounts.group_name(metadata.gid()),
            size: metadata.len(),
        };
        self.apply_rules(&self.node_path_of(&host), &mut stat);
        Ok(Some(stat))
    }

    /// [`Facts::read_file`] without the memo.
    fn read_file_uncached(&self, node_path: String) -> Result<Option<String>, FactError> {
        let (host, metadata) = match self.resolve_with_metadata(&node_path, true)? {
            (Resolved::Found(host), metadata) => (host, metadata),
            (Resolved::Missing, _) => {
                return match self.declared.get(&node_path) {
                    Some(FileKind::Dir) => Err(FactError::Unreadable {
                        path: node_path,
                        reason: "Is a directory".into(),
                    }),
                    Some(_) => Err(FactError::NotRecorded {
                        what: format!(
                        "the content of {node_path} (declared in {METADATA_FILE} without content)"
                    ),
                    }),
                    None => Ok(None),
                }
            }
        };
        // Every symlink on the way was followed: the resolution's `lstat` is the file's `stat`.
        let is_dir = metadata
            .as_ref()
            .map_or_else(|| host.is_dir(), |metadata| metadata.is_dir());
        if is_dir {
            return Err(FactError::Unreadable {
                path: node_path,
                reason: "Is a directory".into(),
            });
        }
        // `host` is resolved within the root: a final symlink now would be a swap.
        match bounded::read_resolved_regular(&host, metadata.as_ref(), Limit::NodeFile) {
            Ok(bytes) => Ok(Some(bounded::into_text(bytes))),
            Err(error) => Err(FactError::Unreadable {
                path: node_path,
                reason: error.to_string(),
            }),
        }
    }

    /// [`Facts::list_tree`] without the memo.
    fn list_tree_uncached(&self, node_path: &str) -> Result<Vec<String>, FactError> {
        let mut paths = Vec::new();
        if let Resolved::Found(host) = self.resolve(node_path, false)? {
            self.walk(&host, node_path, &mut paths)?;
        }
        let prefix = format!("{}/", node_path.trim_end_matches('/'));
        paths.extend(
            self.declared
                .keys()
                .filter(|declared| *declared == node_path || declared.starts_with(&prefix))
                .cloned(),
        );
        let sorted: BTreeSet<String> = paths.into_iter().collect();
        Ok(sorted.into_iter().collect())
    }

    /// The listing of `node_path` cut from an ancestor's listing already made (the PKI
    /// directory after `/etc/kubernetes`), or `None`. Only a path the ancestor's walk reached
    /// is cut: the walk entered no symlink on the way there, so walking the path itself would
    /// find the same entries, and the metadata's declared paths under it are in both.
    fn listed_within_ancestor(&self, node_path: &str) -> Option<Vec<String>> {
        if node_path.split('/').any(|part| part == "..") {
            return None;
        }
        let trees = locked(&self.trees);
        let mut ancestor = node_path;
        while let Some(cut) = ancestor.rfind('/') {
            ancestor = if cut == 0 { "/" } else { &ancestor[..cut] };
            if let Some(listing) = trees.get(ancestor) {
                return within(listing, node_path);
            }
            if ancestor == "/" {
                break;
            }
        }
        None
    }

    /// Resolves a node path to a path under the root, following symlinks as a chroot
    /// would. `follow_last` = false leaves a final symlink itself (as `find` lists it).
    fn resolve(&self, node_path: &str, follow_last: bool) -> Result<Resolved, FactError> {
        rooted::resolve_remembering(&self.root, node_path, follow_last, &self.seen)
            .map_err(|error| io_fact_error(node_path, &error))
    }

    /// [`Self::resolve`] with the `lstat` the resolution made of the path, if it made one.
    fn resolve_with_metadata(
        &self,
        node_path: &str,
        follow_last: bool,
    ) -> Result<(Resolved, Option<std::fs::Metadata>), FactError> {
        rooted::resolve_with_metadata(&self.root, node_path, follow_last, &self.seen)
            .map_err(|error| io_fact_error(node_path, &error))
    }

    /// The node path of a resolved host path under the root.
    fn node_path_of(&self, host: &Path) -> String {
        // Compared as bytes (`Path::strip_prefix` walks components): `host` is the root
        // with node components pushed, and what is left keeps its leading `/`.
        let host = host.as_os_str().as_bytes();
        let relative = host
            .strip_prefix(self.root.as_os_str().as_bytes())
            .filter(|rest| rest.is_empty() || rest[0] == b'/')
            .unwrap_or(host);
        normalize_node_path(&String::from_utf8_lossy(relative))
    }

    fn apply_rules(&self, node_path: &str, stat: &mut FileStat) {
        for rule in self
            .rule_matcher
            .matching(node_path)
            .into_iter()
            .map(|index| &self.rules[index])
        {
            if let Some(mode) = rule.mode {
                stat.mode = mode;
            }
            if let Some(owner) = &rule.owner {
                stat.uid = owner.uid;
                stat.gid = owner.gid;
                stat.user = owner.user.clone();
                stat.group = owner.group.clone();
            }
        }
    }

    fn declared_stat(&self, node_path: &str) -> Option<FileStat> {
        let kind = *self.declared.get(node_path)?;
        let mut stat = FileStat {
            kind,
            mode: if kind == FileKind::Dir { 0o755 } else { 0o644 },
            uid: 0,
            gid: 0,
            user: Some("root".into()),
            group: Some("root".into()),
            size: 0,
        };
        self.apply_rules(node_path, &mut stat);
        Some(stat)
    }

    fn derived(&self) -> &Result<Vec<NodeProcess>, FactError> {
        self.derived.get_or_init(|| {
            let declared_kubelet = self
                .metadata
                .processes
                .iter()
                .find(|p| {
                    !p.argv.is_empty()
                        && p.comm.clone().unwrap_or_else(|| comm_of(&p.argv[0])) == "kubelet"
                })
                .map(|p| p.argv.as_slice());
            let derived = derive_processes(self, declared_kubelet)?;
            Ok(self.number_processes(derived))
        })
    }

    /// Derived processes then the metadata's extra ones, with pids 1, 2, ... unless given.
    fn number_processes(&self, derived: Vec<DerivedProcess>) -> Vec<NodeProcess> {
        let derived = derived.into_iter().map(|p| (p.argv, None, None, p.image));
        let extra = self
            .metadata
            .processes
            .iter()
            .map(|p| (p.argv.clone(), p.comm.clone(), p.pid, None));
        let mut processes: Vec<NodeProcess> = derived
            .chain(extra)
            .filter(|(argv, ..)| !argv.is_empty())
            .enumerate()
            .map(|(index, (argv, comm, pid, image))| NodeProcess {
                process: Process {
                    pid: pid.unwrap_or(index as u32 + 1),
                    comm: comm.unwrap_or_else(|| comm_of(&argv[0])),
                    argv,
                },
                image,
            })
            .collect();
        processes.sort_by_key(|node_process| node_process.process.pid);
        processes
    }

    fn runs<'a>(&'a self, comm: &'a str) -> impl Iterator<Item = &'a NodeProcess> {
        let processes = match self.derived() {
            Ok(processes) => processes.as_slice(),
            Err(_) => &[],
        };
        processes.iter().filter(move |p| p.process.comm == comm)
    }

    /// The version in the kube-apiserver image tag (`registry.k8s.io/kube-apiserver:v1.33.1`).
    fn inferred_version(&self) -> Option<String> {
        self.runs("kube-apiserver").find_map(|apiserver| {
            let tag = apiserver.image.as_deref()?.rsplit_once(':')?.1;
            let version = tag.strip_prefix('v')?;
            version
                .starts_with(|c: char| c.is_ascii_digit())
                .then(|| version.to_string())
        })
    }

    fn walk(&self, host: &Path, node: &str, out: &mut Vec<String>) -> Result<(), FactError> {
        out.push(node.to_string());
        let metadata = self
            .seen
            .symlink_metadata(host)
            .map_err(|error| io_fact_error(node, &error))?;
        if !metadata.is_dir() {
            return Ok(());
        }
        let entries = std::fs::read_dir(host).map_err(|error| io_fact_error(node, &error))?;
        for entry in entries {
            let entry = entry.map_err(|error| io_fact_error(node, &error))?;
            let name = entry.file_name();
            if host == self.root && name == METADATA_FILE {
                continue;
            }
            let utf8 = name.to_str().is_some();
            let name = name.to_string_lossy();
            let parent = if node == "/" { "" } else { node };
            let mut child = String::with_capacity(parent.len() + 1 + name.len());
            child.push_str(parent);
            child.push('/');
            child.push_str(&name);
            // A directory listed before (the static pods' before `/etc/kubernetes`) is not
            // read again: the walk reached it without a symlink, as its own listing did.
            let listed = utf8.then(|| locked(&self.trees).get(&child).cloned());
            match listed.flatten() {
                Some(listing) => out.extend(listing.iter().cloned()),
                None => self.walk(&entry.path(), &child, out)?,
            }
        }
        Ok(())
    }
}

/// `path` and the entries below it in a sorted listing that holds `path`, or `None`.
fn within(listing: &[String], path: &str) -> Option<Vec<String>> {
    let start = listing
        .binary_search_by(|entry| entry.as_str().cmp(path))
        .ok()?;
    // Everything that starts with `path` is contiguous from it (`pki`, `pki-old`, `pki/ca`).
    let below = |entry: &&String| {
        entry.len() == path.len() || entry.as_bytes().get(path.len()) == Some(&b'/')
    };
    Some(
        listing[start..]
            .iter()
            .take_while(|entry| entry.starts_with(path))
            .filter(below)
            .cloned()
            .collect(),
    )
}

fn resolve_account(
    names: &BTreeMap<u32, ArcStr>,
    text: &str,
    what: &str,
    file: &str,
) -> Result<(u32, Option<ArcStr>), String> {
    if let Ok(id) = text.parse::<u32>() {
        return Ok((id, name_of(names, id)));
    }
    match id_of(names, text) {
        Some(id) => Ok((id, Some(ArcStr::from(text)))),
        None => Err(format!(
            "{what} `{text}` is not in the snapshot's {file}: add {file} to the snapshot or write the numeric id"
        )),
    }
}

fn io_fact_error(path: &str, error: &std::io::Error) -> FactError {
    FactError::Unreadable {
        path: path.to_string(),
        reason: error.to_string(),
    }
}

/// The text of the metadata file at `resolved` (where its symlinks lead inside the
/// snapshot), with the `lstat` its resolution made; errors name it as `path`.
fn read_metadata(
    resolved: &Path,
    lstat: Option<&std::fs::Metadata>,
    path: &Path,
) -> Result<String, SnapshotError> {
    let read = bounded::read_resolved_regular(resolved, lstat, Limit::NodeFile);
    let bytes = read.map_err(|error| SnapshotError::Io {
        path: path.to_path_buf(),
        source: error.into(),
    })?;
    String::from_utf8(bytes).map_err(|_| SnapshotError::Metadata {
        path: path.to_path_buf(),
        position: None,
        message: "not UTF-8 text".into(),
    })
}

/// Whether the positions of the rules' values are read too (serde-saphyr), or only the
/// values, which [`block_yaml`] reads faster when the file keeps to its subset.
#[derive(Clone, Copy)]
enum Positions {
    Known,
    Unknown,
}

/// The metadata file's text parsed; errors name it as `path`.
fn parse_metadata(
    text: &str,
    path: &Path,
    positions: Positions,
) -> Result<Metadata, SnapshotError> {
    let mut options = serde_saphyr::Options::default();
    options.leading_zero_numbers_as_strings = true; // `mode: 0600` stays the text "0600"
    let parsed = match positions {
        Positions::Known => serde_saphyr::from_str_with_options(text, options),
        Positions::Unknown => block_yaml::from_str_with_options(text, options),
    };
    parsed.map_err(|error| {
        let position = error.location().map(|l| (l.line(), l.column()));
        let mut message = error.without_snippet().to_string();
        // the position is already in the error's prefix
        if let Some(index) = message.rfind(" at line ") {
            message.truncate(index);
        }
        SnapshotError::Metadata {
            path: path.to_path_buf(),
            position,
            message: sanitize::excerpt(&message),
        }
    })
}

impl Facts for SnapshotDirFacts {
    fn identity(&self) -> NodeIdentity {
        let node = &self.metadata.node;
        NodeIdentity {
            name: node.name.clone().unwrap_or_else(|| {
                self.root
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| self.root.display().to_string())
            }),
            roles: node.roles.clone().unwrap_or_default(),
            kubernetes_version: node
                .kubernetes_version
                .clone()
                .or_else(|| self.inferred_version()),
            platform: node.platform.clone(),
            server_version: node.server_version.clone(),
            cluster: node.cluster.clone(),
        }
    }

    fn describe(&self) -> String {
        format!("snapshot directory {}", self.root.display())
    }

    fn processes(&self) -> Result<ProcessList, FactError> {
        self.processes
            .get_or_init(|| {
                self.derived()
                    .as_ref()
                    .map(|derived| derived.iter().map(|p| p.process.clone()).collect())
                    .map_err(Clone::clone)
            })
            .clone()
    }

    fn stat(&self, path: &str) -> Result<Option<FileStat>, FactError> {
        let node_path = normalize_node_path(path);
        if let Some(known) = locked(&self.stats).get(&node_path) {
            return Ok(known.clone());
        }
        let stat = self.stat_uncached(&node_path)?;
        locked(&self.stats).insert(node_path, stat.clone());
        Ok(stat)
    }

    fn read_file(&self, path: &str) -> Result<Option<String>, FactError> {
        let node_path = normalize_node_path(path);
        if let Some(known) = locked(&self.contents).get(&node_path) {
            return Ok(known.as_deref().map(str::to_owned));
        }
        let text = self.read_file_uncached(node_path.clone())?;
        locked(&self.contents).insert(node_path, text.as_deref().map(Arc::from));
        Ok(text)
    }

    fn list_tree(&self, path: &str) -> Result<Arc<[String]>, FactError> {
        let node_path = normalize_node_path(path);
        if let Some(known) = locked(&self.trees).get(&node_path) {
            return Ok(Arc::clone(known));
        }
        let tree: Arc<[String]> = match self.listed_within_ancestor(&node_path) {
            Some(tree) => tree.into(),
            None => self.list_tree_uncached(&node_path)?.into(),
        };
        locked(&self.trees).insert(node_path, Arc::clone(&tree));
        Ok(tree)
    }

    fn run_shell(&self, command: &ShellCommand) -> Result<ShellOutput, FactError> {
        match self.metadata.shell.get(&command.on_node) {
            Some(record) => record.answer(),
            None => Err(FactError::NotRecorded {
                what: format!("the output of `{}`", command.on_node),
            }),
        }
    }

    fn shell_path_prefix(&self) -> &str {
        ""
    }

    fn source_file(&self, path: &str) -> Option<PathBuf> {
        let is_file = |host: &Path, metadata: &Option<std::fs::Metadata>| {
            metadata
                .as_ref()
                .map_or_else(|| host.is_file(), |metadata| metadata.is_file())
        };
        match self.resolve_with_metadata(&normalize_node_path(path), true) {
            Ok((Resolved::Found(host), metadata)) if is_file(&host, &metadata) => Some(
                host.strip_prefix(&self.root)
                    .map(|inside| self.named_root.join(inside))
                    .unwrap_or(host),
            ),
            _ => None,
        }
    }

    fn api_objects(&self, kind: &str) -> Result<crate::facts::ApiObjects, FactError> {
        Err(FactError::NotRecorded {
            what: format!("API objects of kind {kind}"),
        })
    }

    fn api_reachable(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let full = dir.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, text).unwrap();
        }
        dir
    }

    #[test]
    fn modes_come_from_the_files_without_metadata() {
        let dir = tree(&[("etc/kubernetes/admin.conf", "x")]);
        let file = dir.path().join("etc/kubernetes/admin.conf");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        let facts = SnapshotDirFacts::open(dir.path()).unwrap();
        let stat = facts.stat("/etc/kubernetes/admin.conf").unwrap().unwrap();
        assert_eq!(stat.mode, 0o640);
        assert_eq!(stat.kind, FileKind::File);
        assert_eq!(facts.stat("/etc/kubernetes/none.conf").unwrap(), None);
    }

    #[test]
    fn metadata_rules_apply_in_order_and_later_ones_win() {
        let dir = tree(&[
            ("etc/kubernetes/manifests/etcd.yaml", "x"),
            ("etc/kubernetes/pki/ca.crt", "x"),
            ("etc/passwd", "root:x:0:0::/root:/bin/sh\netcd:x:998:998::/var/lib/etcd:/usr/sbin/nologin\n"),
            ("etc/group", "root:x:0:\netcd:x:998:\n"),
            (
                METADATA_FILE,
                "files:\n  - path: /etc/kubernetes/**\n    mode: 0644\n    owner: root:root\n  - path: /etc/kubernetes/manifests/*.yaml\n    mode: \"0600\"\n  - path: /var/lib/etcd\n    kind: dir\n    mode: 700\n    owner: etcd:etcd\n",
            ),
        ]);
        let facts = SnapshotDirFacts::open(dir.path()).unwrap();
        let manifest = facts
            .stat("/etc/kubernetes/manifests/etcd.yaml")
            .unwrap()
            .unwrap();
        assert_eq!(
            (manifest.mode_text(), manifest.owner_text()),
            ("600".into(), "root:root".into())
        );
        let cert = facts.stat("/etc/kubernetes/pki/ca.crt").unwrap().unwrap();
        assert_eq!(cert.mode_text(), "644");
        let etcd = facts.stat("/var/lib/etcd").unwrap().unwrap();
        assert_eq!(etcd.kind, FileKind::Dir);
        assert_eq!(
            (etcd.mode_text(), etcd.owner_text(), etcd.uid),
            ("700".into(), "etcd:etcd".into(), 998)
        );
        assert_eq!(
            facts.list_tree("/var/lib").unwrap().to_vec(),
            vec!["/var/lib/etcd"]
        );
    }

    #[test]
    fn exact_and_pattern_rules_interleave_in_file_order() {
        let dir = tree(&[
            ("etc/kubernetes/admin.conf", "x"),
            ("etc/kubernetes/super-admin.conf", "x"),
            ("etc/kubernetes/sub/deep.conf", "x"),
            (
                METADATA_FILE,
                "files:\n  - path: /etc/kubernetes/*.conf\n    mode: \"0600\"\n  - path: /etc/kubernetes/admin.conf\n    mode: \"0640\"\n  - path: /etc/kubernetes/super-*.conf\n    mode: \"0604\"\n  - path: /etc/kubernetes/super-admin.conf\n    mode: \"0400\"\n",
            ),
        ]);
        let facts = SnapshotDirFacts::open(dir.path()).unwrap();
        let mode = |path: &str| facts.stat(path).unwrap().unwrap().mode_text();
        assert_eq!(mode("/etc/kubernetes/admin.conf"), "640");
        assert_eq!(mode("/etc/kubernetes/super-admin.conf"), "400");
        // `*` stays within one directory: the file keeps its own mode.
        let own = std::fs::metadata(dir.path().join("etc/kubernetes/sub/deep.conf")).unwrap();
        assert_eq!(
            mode("/etc/kubernetes/sub/deep.conf"),
            format!("{:o}", own.mode() & 0o7777)
        );
    }

    #[test]
    fn a_bad_mode_in_the_metadata_names_file_and_line() {
        let dir = tree(&[(
            METADATA_FILE,
            "files:\n  - path: /etc/kubernetes/admin.conf\n    mode: \"0999\"\n",
        )]);
        let error = SnapshotDirFacts::open(dir.path())
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains(METADATA_FILE), "{error}");
        assert!(error.contains(&format!("{METADATA_FILE}:3:")), "{error}");
        assert!(error.contains("`0999`"), "{error}");
    }

    #[test]
    fn an_invalid_path_pattern_names_file_and_line() {
        let dir = tree(&[(
            METADATA_FILE,
            "files:\n  - path: /etc/*.conf\n    mode: \"0600\"\n  - path: /etc/{a,b\n    mode: \"0600\"\n",
        )]);
        let error = SnapshotDirFacts::open(dir.path())
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains(&format!("{METADATA_FILE}:4:"))
                && error.contains("invalid path pattern"),
            "{error}"
        );
    }

    #[test]
    fn an_unknown_owner_names_file_and_line() {
        let dir = tree(&[(
            METADATA_FILE,
            "files:\n  - path: /var/lib/etcd\n    owner: etcd:etcd\n",
        )]);
        let error = SnapshotDirFacts::open(dir.path())
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains(&format!("{METADATA_FILE}:3:")) && error.contains("`etcd`"),
            "{error}"
        );
    }

    #[test]
    fn absolute_links_resolve_inside_the_root() {
        let dir = tree(&[("etc/kubernetes/pki/real.crt", "inside")]);
        symlink(
            "/etc/kubernetes/pki/real.crt",
            dir.path().join("etc/kubernetes/current.crt"),
        )
        .unwrap();
        let facts = SnapshotDirFacts::open(dir.path()).unwrap();
        assert_eq!(
            facts
                .read_file("/etc/kubernetes/current.crt")
                .unwrap()
                .as_deref(),
            Some("inside")
        );
    }

    #[test]
    fn list_tree_lists_like_find_without_following_links() {
        let dir = tree(&[("etc/kubernetes/pki/ca.crt", "x"), ("other/x", "y")]);
        symlink("/other", dir.path().join("etc/kubernetes/pki/link")).unwrap();
        let facts = SnapshotDirFacts::open(dir.path()).unwrap();
        assert_eq!(
            facts.list_tree("/etc/kubernetes/pki/").unwrap().to_vec(),
            vec![
                "/etc/kubernetes/pki",
                "/etc/kubernetes/pki/ca.crt",
                "/etc/kubernetes/pki/link"
            ]
        );
        assert!(facts.list_tree("/nothing").unwrap().is_empty());
    }

    #[test]
    fn listings_reused_from_other_listings_are_the_listings_themselves() {
        let dir = tree(&[
            ("etc/kubernetes/pki/ca.crt", "x"),
            ("etc/kubernetes/pki/etcd/ca.crt", "x"),
            ("etc/kubernetes/pki-old/ca.crt", "x"),
            ("etc/kubernetes/admin.conf", "x"),
            ("other/x", "y"),
            (
                METADATA_FILE,
                "files:\n  - path: /etc/kubernetes/pki/declared.key\n    kind: file\n    mode: \"0600\"\n",
            ),
        ]);
        symlink("/other", dir.path().join("etc/kubernetes/pki/link")).unwrap();
        let paths = [
            "/etc/kubernetes/pki",
            "/etc/kubernetes/pki/etcd",
            "/etc/kubernetes/pki/link",
            "/etc/kubernetes/pki/link/x",
            "/etc/kubernetes/pki/ca.crt",
            "/etc/kubernetes/pki/absent",
            "/etc/kubernetes/pki/../pki-old",
        ];
        let after_ancestors = SnapshotDirFacts::open(dir.path()).unwrap();
        after_ancestors.list_tree("/").unwrap();
        after_ancestors.list_tree("/etc/kubernetes").unwrap();
        for path in paths {
            let alone = SnapshotDirFacts::open(dir.path()).unwrap();
            assert_eq!(
                after_ancestors.list_tree(path).unwrap(),
                alone.list_tree(path).unwrap(),
                "{path}"
            );
        }
        let after_descendants = SnapshotDirFacts::open(dir.path()).unwrap();
        for path in paths {
            after_descendants.list_tree(path).unwrap();
        }
        for path in ["/etc/kubernetes", "/"] {
            let alone = SnapshotDirFacts::open(dir.path()).unwrap();
            assert_eq!(
                after_descendants.list_tree(path).unwrap(),
                alone.list_tree(path).unwrap(),
                "{path}, its descendants listed first"
            );
        }
        let pki = after_ancestors.list_tree("/etc/kubernetes/pki").unwrap();
        assert!(pki.contains(&"/etc/kubernetes/pki/declared.key".to_string()));
        assert!(!pki.iter().any(|path| path.contains("pki-old")), "{pki:?}");
        assert_eq!(
            after_ancestors
                .list_tree("/etc/kubernetes/pki/link/x")
                .unwrap()
                .to_vec(),
            vec!["/etc/kubernetes/pki/link/x"],
            "through the symlink, not cut from the listing"
        );
    }

    #[test]
    fn shell_audits_are_not_recorded_unless_the_metadata_has_them() {
        let dir = tree(&[(METADATA_FILE, "shell:\n  \"systemctl is-enabled kubelet\":\n    output: \"enabled\\n\"\n    exit_code: 0\n")]);
        let facts = SnapshotDirFacts::open(dir.path()).unwrap();
        let recorded = ShellCommand {
            on_node: "systemctl is-enabled kubelet".into(),
            to_run: String::new(),
        };
        assert_eq!(facts.run_shell(&recorded).unwrap().output, "enabled\n");
        let other = ShellCommand {
            on_node: "ps -ef".into(),
            to_run: String::new(),
        };
        assert!(matches!(
            facts.run_shell(&other),
            Err(FactError::NotRecorded { .. })
        ));
    }

    #[test]
    fn identity_is_inferred_from_the_apiserver_manifest() {
        let dir = tree(&[(
            "etc/kubernetes/manifests/kube-apiserver.yaml",
            "kind: Pod\nspec:\n  containers:\n  - name: kube-apiserver\n    image: registry.k8s.io/kube-apiserver:v1.33.1\n    command: [kube-apiserver, --profiling=false]\n",
        )]);
        let facts = SnapshotDirFacts::open(dir.path()).unwrap();
        let identity = facts.identity();
        assert!(identity.roles.is_empty(), "roles are left to the engine");
        assert_eq!(identity.kubernetes_version.as_deref(), Some("1.33.1"));
        let processes = facts.processes().unwrap();
        assert_eq!(processes[0].pid, 1);
        assert_eq!(processes[0].comm, "kube-apiserver");
    }

    #[test]
    fn static_pods_are_read_where_the_kubelet_config_puts_them() {
        let unit = "[Service]\nExecStart=/usr/bin/kubelet --config=/var/lib/kubelet/config.yaml\n";
        let pod =
            "kind: Pod\nspec:\n  containers:\n  - name: etcd\n    command: [etcd, --data-dir=/d]\n";
        let dir = tree(&[
            ("usr/lib/systemd/system/kubelet.service", unit),
            (
                "var/lib/kubelet/config.yaml",
                "kind: KubeletConfiguration\nstaticPodPath: /etc/pods\n",
            ),
            ("etc/pods/etcd.yaml", pod),
            (
                "etc/kubernetes/manifests/ignored.yaml",
                &pod.replace("etcd", "other"),
            ),
        ]);
        let facts = SnapshotDirFacts::open(dir.path()).unwrap();
        let programs: Vec<String> = facts
            .processes()
            .unwrap()
            .iter()
            .map(|process| process.argv[0].clone())
            .collect();
        assert_eq!(programs, ["/usr/bin/kubelet", "etcd"]);

        let dir = tree(&[
            ("usr/lib/systemd/system/kubelet.service", unit),
            ("var/lib/kubelet/config.yaml", "- staticPodPath\n"),
        ]);
        let error = SnapshotDirFacts::open(dir.path())
            .unwrap()
            .processes()
            .unwrap_err();
        assert!(error.to_string().contains("expected a mapping"), "{error}");
    }
}
