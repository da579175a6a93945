//! The live source: the node this program runs on, or a host mounted under `--root`.
//!
//! Files are read under the root; processes come from the real `/proc` (a pod with
//! `hostPID: true` sees the host's processes there, whatever the root); shell audits run
//! with `/bin/sh`; API objects come from kubectl.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use arcstr::ArcStr;
use wait_timeout::ChildExt;

use super::bounded::{self, Limit};
use super::kubectl::{Kubectl, KubectlOptions};
use super::passwd::NodeAccounts;
use super::rooted::{self, Resolved};
use super::{
    FactError, Facts, FileKind, FileStat, NodeIdentity, Process, ProcessList, ShellCommand,
    ShellOutput,
};
use crate::definitions::variables::ROOT_ENV;

/// How to reach the node.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Where the node's filesystem is mounted (`/` on the node itself, `/host` in a pod).
    pub root: PathBuf,
    /// Where the node's processes are listed; the real `/proc` except in tests.
    pub proc_dir: PathBuf,
    /// The shell that runs audits; the script is fed on its stdin, as kube-bench does.
    pub shell: PathBuf,
    /// How long one shell audit may run before its process group is killed.
    pub shell_timeout: Duration,
    pub kubectl: KubectlOptions,
    /// The node's name, when `<root>/etc/hostname` and the kernel do not say it right.
    pub node_name: Option<String>,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            root: PathBuf::from("/"),
            proc_dir: PathBuf::from("/proc"),
            shell: PathBuf::from("/bin/sh"),
            shell_timeout: Duration::from_secs(30),
            kubectl: KubectlOptions::default(),
            node_name: None,
        }
    }
}

/// The live facts source. Processes, owner names and API objects are read once and
/// cached: a scan asks for them many times.
pub struct LiveFacts {
    options: LiveOptions,
    path_prefix: String,
    processes: OnceLock<Result<ProcessList, FactError>>,
    accounts: OnceLock<NodeAccounts>,
    kubectl: Kubectl,
    /// Each path's `lstat` (under a root, or listing a tree), made once per scan: the
    /// answers are as of the first question, as probe answers are.
    seen: rooted::Seen,
}

impl LiveFacts {
    pub fn new(options: LiveOptions) -> Self {
        let path_prefix = shell_prefix_of(&options.root);
        let kubectl = Kubectl::new(options.kubectl.clone());
        LiveFacts {
            options,
            path_prefix,
            processes: OnceLock::new(),
            accounts: OnceLock::new(),
            kubectl,
            seen: rooted::Seen::default(),
        }
    }

    pub fn options(&self) -> &LiveOptions {
        &self.options
    }

    /// The API server's `gitVersion` (`v1.30.2`), when kubectl can reach it.
    pub fn api_server_version(&self) -> Option<String> {
        self.kubectl.server_version()
    }

    fn accounts(&self) -> &NodeAccounts {
        self.accounts
            .get_or_init(|| NodeAccounts::load(&self.options.root))
    }

    fn root_is_slash(&self) -> bool {
        self.path_prefix.is_empty()
    }

    /// Where a node path is on this machine, its symlinks followed within the root.
    fn resolve(&self, node_path: &str) -> io::Result<PathBuf> {
        if self.root_is_slash() {
            Ok(PathBuf::from(node_path))
        } else {
            self.resolve_under_root(node_path).map(|(path, _)| path)
        }
    }

    /// `stat` of a node path (symlinks followed, within the root).
    fn metadata(&self, node_path: &str) -> io::Result<fs::Metadata> {
        if self.root_is_slash() {
            return fs::metadata(node_path);
        }
        match self.resolve_under_root(node_path)? {
            (_, Some(metadata)) => Ok(metadata),
            (path, None) => fs::metadata(path),
        }
    }

    /// [`Self::resolve`] under a root, with the `lstat` of the path found when there is one
    /// (every symlink followed: its `stat`).
    fn resolve_under_root(&self, node_path: &str) -> io::Result<(PathBuf, Option<fs::Metadata>)> {
        match rooted::resolve_with_metadata(&self.options.root, node_path, true, &self.seen)? {
            (Resolved::Found(path), metadata) => Ok((path, metadata)),
            (Resolved::Missing, _) => Err(io::ErrorKind::NotFound.into()),
        }
    }

    fn node_name(&self) -> String {
        if let Some(name) = &self.options.node_name {
            return name.clone();
        }
        let from_root = self
            .read_file("/etc/hostname")
            .ok()
            .flatten()
            .and_then(|text| first_word(&text));
        let from_kernel = || {
            fs::read_to_string(self.options.proc_dir.join("sys/kernel/hostname"))
                .ok()
                .and_then(|text| first_word(&text))
        };
        from_root.or_else(from_kernel).unwrap_or_default()
    }
}

impl Facts for LiveFacts {
    fn identity(&self) -> NodeIdentity {
        NodeIdentity {
            name: self.node_name(),
            roles: Vec::new(),
            kubernetes_version: None,
            platform: Some(go_platform()),
            server_version: None,
            cluster: self.options.kubectl.current_context(),
        }
    }

    fn describe(&self) -> String {
        if self.root_is_slash() {
            "live node".to_string()
        } else {
            format!("live node (root {})", self.options.root.display())
        }
    }

    fn processes(&self) -> Result<ProcessList, FactError> {
        self.processes
            .get_or_init(|| read_processes(&self.options.proc_dir).map(ProcessList::from))
            .clone()
    }

    fn stat(&self, path: &str) -> Result<Option<FileStat>, FactError> {
        let metadata = absent_or_unreadable(path, self.metadata(path))?;
        let accounts = self.accounts();
        if let (Some(problem), Some(_)) = (accounts.problem(), &metadata) {
            return Err(FactError::Unreadable {
                path: path.to_string(),
                reason: format!("its owner cannot be named: {problem}"),
            });
        }
        Ok(metadata.map(|metadata| FileStat {
            kind: FileKind::from(metadata.file_type()),
            mode: metadata.mode() & 0o7777,
            uid: metadata.uid(),
            gid: metadata.gid(),
            user: accounts.user_name(metadata.uid()).map(ArcStr::from),
            group: accounts.group_name(metadata.gid()).map(ArcStr::from),
            size: metadata.size(),
        }))
    }

    fn read_file(&self, path: &str) -> Result<Option<String>, FactError> {
        let local = match absent_or_unreadable(path, self.resolve(path))? {
            Some(local) => local,
            None => return Ok(None),
        };
        // Under a root every symlink is already resolved within it: a final one now is a swap.
        let follow_last = self.root_is_slash();
        match bounded::read_regular(&local, Limit::NodeFile, follow_last) {
            Ok(bytes) => Ok(Some(bounded::into_text(bytes))),
            Err(error) if error.is_missing() => Ok(None),
            Err(error) => Err(FactError::Unreadable {
                path: path.to_string(),
                reason: error.to_string(),
            }),
        }
    }

    fn list_tree(&self, path: &str) -> Result<Arc<[String]>, FactError> {
        // `find PATH` does not follow a symlink even when it is PATH itself, but the
        // directories leading to PATH are resolved as usual.
        let local = match self.resolve_parent(path) {
            Ok(local) => local,
            Err(error) if is_absent(&error) => return Ok(Arc::default()),
            Err(error) => return Err(unreadable(path, &error)),
        };
        let mut found = Vec::new();
        walk(&self.seen, &local, path, &mut found)?;
        found.sort();
        Ok(found.into())
    }

    fn run_shell(&self, command: &ShellCommand) -> Result<ShellOutput, FactError> {
        let mut shell = Command::new(&self.options.shell);
        // Audits name the root as "${CISGATE_ROOT}": data in the environment, never script.
        shell.env(ROOT_ENV, &self.path_prefix);
        let script = command.to_run.clone().into_bytes();
        match run_bounded(
            shell,
            Some(script),
            Capture::Merged,
            self.options.shell_timeout,
            Limit::NodeFile,
        ) {
            Ok(finished) => Ok(ShellOutput {
                output: bounded::into_text(finished.stdout),
                exit_code: exit_code(finished.status),
            }),
            Err(RunError::Timeout) => Err(FactError::Timeout {
                command: command.on_node.clone(),
                seconds: whole_seconds(self.options.shell_timeout),
            }),
            Err(RunError::Spawn(error)) => Err(FactError::Spawn {
                command: command.on_node.clone(),
                reason: format!("{}: {error}", self.options.shell.display()),
            }),
            Err(RunError::TooLarge(limit)) => Err(FactError::Unreadable {
                path: format!("the output of `{}`", command.on_node),
                reason: bounded::ReadError::TooLarge { limit }.to_string(),
            }),
        }
    }

    fn shell_path_prefix(&self) -> &str {
        &self.path_prefix
    }

    fn api_objects(&self, kind: &str) -> Result<crate::facts::ApiObjects, FactError> {
        self.kubectl.list(kind)
    }

    fn prefetch_api_objects(&self, kinds: &[&str]) {
        self.kubectl.prefetch(kinds)
    }

    fn api_reachable(&self) -> bool {
        self.kubectl.reachable()
    }
}

impl LiveFacts {
    /// Resolves the directories leading to a node path, leaving its last component as is.
    fn resolve_parent(&self, node_path: &str) -> io::Result<PathBuf> {
        let path = Path::new(node_path);
        match (path.parent(), path.file_name()) {
            (Some(parent), Some(name)) => {
                let parent = self.resolve(&parent.to_string_lossy())?;
                let local = parent.join(name);
                self.seen.symlink_metadata(&local)?;
                Ok(local)
            }
            _ => {
                let local = self.resolve(node_path)?;
                self.seen.symlink_metadata(&local)?;
                Ok(local)
            }
        }
    }
}

fn shell_prefix_of(root: &Path) -> String {
    root.to_string_lossy().trim_end_matches('/').to_string()
}

fn first_word(text: &str) -> Option<String> {
    text.split_whitespace().next().map(str::to_string)
}

/// `GOOS/GOARCH`, as Kubernetes spells a platform.
fn go_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    format!("{}/{arch}", std::env::consts::OS)
}

// ---------------------------------------------------------------------------------------
// Files

fn walk(
    seen: &rooted::Seen,
    local: &Path,
    node_path: &str,
    found: &mut Vec<String>,
) -> Result<(), FactError> {
    found.push(node_path.to_string());
    let metadata = seen
        .symlink_metadata(local)
        .map_err(|error| unreadable(node_path, &error))?;
    if !metadata.is_dir() {
        return Ok(());
    }
    let entries = fs::read_dir(local).map_err(|error| unreadable(node_path, &error))?;
    let base = node_path.trim_end_matches('/');
    for entry in entries {
        let entry = entry.map_err(|error| unreadable(node_path, &error))?;
        let child = format!("{base}/{}", entry.file_name().to_string_lossy());
        walk(seen, &entry.path(), &child, found)?;
    }
    Ok(())
}

/// `stat` and kube-bench's file detection treat "not there" and "a parent is not a
/// directory" as absence; anything else (EACCES, ELOOP) is an error.
fn is_absent(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

fn absent_or_unreadable<T>(path: &str, result: io::Result<T>) -> Result<Option<T>, FactError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if is_absent(&error) => Ok(None),
        Err(error) => Err(unreadable(path, &error)),
    }
}

fn unreadable(path: impl std::fmt::Display, error: &io::Error) -> FactError {
    FactError::Unreadable {
        path: path.to_string(),
        reason: error.to_string(),
    }
}

// ---------------------------------------------------------------------------------------
// Processes

fn read_processes(proc_dir: &Path) -> Result<Vec<Process>, FactError> {
    let entries = fs::read_dir(proc_dir).map_err(|error| unreadable(proc_dir.display(), &error))?;
    let mut processes: Vec<Process> = entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let pid = entry.file_name().to_str()?.parse().ok()?;
            read_process(&entry.path(), pid)
        })
        .collect();
    processes.sort_by_key(|process| process.pid);
    Ok(processes)
}

/// `None` for kernel threads and zombies (empty cmdline) and for processes that ended
/// while being read.
fn read_process(dir: &Path, pid: u32) -> Option<Process> {
    let argv = split_cmdline(&read_proc_file(&dir.join("cmdline")).ok()?);
    if argv.is_empty() {
        return None;
    }
    let comm = read_proc_file(&dir.join("comm")).ok()?;
    let comm = String::from_utf8_lossy(&comm)
        .trim_end_matches('\n')
        .to_string();
    Some(Process { pid, comm, argv })
}

/// A `/proc` file's bytes. Unlike `fs::read`, no `statx` for a size hint (`/proc` says 0
/// anyway): a live scan reads two files of every process on the machine.
fn read_proc_file(path: &Path) -> io::Result<Vec<u8>> {
    let mut file = fs::File::open(path)?;
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match file.read(&mut chunk) {
            Ok(0) => return Ok(bytes),
            Ok(read) => bytes.extend_from_slice(&chunk[..read]),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
}

/// `/proc/<pid>/cmdline`: arguments each ended by a NUL.
fn split_cmdline(bytes: &[u8]) -> Vec<String> {
    let bytes = bytes.strip_suffix(b"\0").unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes
        .split(|byte| *byte == 0)
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------
// Bounded child processes (shell audits and kubectl)

/// How a child's output is collected.
pub(crate) enum Capture {
    /// stdout and stderr through one pipe, interleaved as a terminal would show them.
    Merged,
    /// stdout and stderr apart (kubectl: JSON on stdout, warnings on stderr).
    Separate,
}

/// A child that ended by itself. With [`Capture::Merged`], `stderr` is empty.
pub(crate) struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

pub(crate) enum RunError {
    Spawn(io::Error),
    Timeout,
    /// The output passed the limit; the command was killed.
    TooLarge(Limit),
}

/// After a child has ended (or been killed), how long its output pipes may stay open.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// Runs a command in a process group of its own, feeding `stdin` and collecting output,
/// and kills the whole group when it outlives `timeout` or prints more than `limit`
/// (`cat` of a device, a runaway loop): memory stays bounded either way.
pub(crate) fn run_bounded(
    mut command: Command,
    stdin: Option<Vec<u8>>,
    capture: Capture,
    timeout: Duration,
    limit: Limit,
) -> Result<Finished, RunError> {
    let deadline = Instant::now() + timeout;
    command.process_group(0).stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let merged_reader = match capture {
        Capture::Merged => {
            let (reader, writer) = io::pipe().map_err(RunError::Spawn)?;
            let writer_for_stderr = writer.try_clone().map_err(RunError::Spawn)?;
            command.stdout(writer).stderr(writer_for_stderr);
            Some(reader)
        }
        Capture::Separate => {
            command.stdout(Stdio::piped()).stderr(Stdio::piped());
            None
        }
    };
    let mut child = command.spawn().map_err(RunError::Spawn)?;
    // The command holds our copies of the pipe's write end; the reader sees EOF only
    // once they are closed.
    drop(command);

    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A thread, so a script larger than the pipe cannot block us if the shell exits early.
        thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    let pid = child.id();
    let stdout = match merged_reader {
        Some(reader) => read_in_background(reader, limit, pid),
        None => read_in_background(child.stdout.take().expect("stdout is piped"), limit, pid),
    };
    let stderr = child
        .stderr
        .take()
        .map(|stderr| read_in_background(stderr, Limit::NodeFile, pid));

    let status = match child.wait_timeout(timeout) {
        Ok(Some(status)) => status,
        Ok(None) | Err(_) => {
            kill_group(pid);
            let _ = child.kill();
            let _ = child.wait();
            return Err(RunError::Timeout);
        }
    };
    // Output pipes stay open while anything the command left in the background runs;
    // such leftovers get the rest of the time budget and are then killed.
    let remaining = deadline.saturating_duration_since(Instant::now());
    let stdout = collect(stdout, remaining, pid)?;
    let stderr = match stderr {
        Some(rx) => collect(rx, DRAIN_GRACE, pid)?,
        None => Vec::new(),
    };
    Ok(Finished {
        status,
        stdout,
        stderr,
    })
}

/// What a reader thread got: the output, or that it passed the limit.
type Output = Result<Vec<u8>, Limit>;

/// Reads up to `limit` bytes in a thread; past it the command's group is killed at once.
fn read_in_background(
    reader: impl Read + Send + 'static,
    limit: Limit,
    group: u32,
) -> mpsc::Receiver<Output> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let output = match bounded::read_stream_limited(reader, limit, 0) {
            Ok(bytes) => Ok(bytes),
            Err(bounded::ReadError::TooLarge { limit }) => {
                kill_group(group);
                Err(limit)
            }
            Err(_) => Ok(Vec::new()),
        };
        let _ = sender.send(output);
    });
    receiver
}

fn collect(
    receiver: mpsc::Receiver<Output>,
    wait: Duration,
    group: u32,
) -> Result<Vec<u8>, RunError> {
    let output = receiver.recv_timeout(wait).unwrap_or_else(|_| {
        kill_group(group);
        receiver.recv_timeout(DRAIN_GRACE).unwrap_or(Ok(Vec::new()))
    });
    output.map_err(RunError::TooLarge)
}

fn kill_group(group: u32) {
    let pid = i32::try_from(group)
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        // ESRCH (the group is already gone) is the outcome we want anyway.
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// The exit status as a shell reports it: the code, or 128 + the signal that ended it.
fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(-1)
}

/// Rounded up, so a sub-second timeout does not read as "0 s".
pub(crate) fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs_f64().ceil() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn live_with_root(root: &Path) -> LiveFacts {
        LiveFacts::new(LiveOptions {
            root: root.to_path_buf(),
            ..LiveOptions::default()
        })
    }

    fn write(root: &Path, relative: &str, text: &str, mode: u32) {
        let path = root.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn shell(script: &str) -> ShellCommand {
        ShellCommand {
            on_node: script.to_string(),
            to_run: script.to_string(),
        }
    }

    #[test]
    fn an_endless_audit_output_is_cut_at_the_limit_and_its_command_killed() {
        let started = Instant::now();
        let error = live_with_root(Path::new("/"))
            .run_shell(&shell("cat /dev/zero"))
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(20), "{error}");
        let text = error.to_string();
        assert!(
            text.contains("`cat /dev/zero`") && text.contains("16 MiB limit (--max-file-size)"),
            "{text}"
        );
    }

    #[test]
    fn fifos_and_devices_under_the_root_are_errors_at_once() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "etc/kubernetes/a.conf", "x", 0o600);
        let fifo = root.path().join("etc/kubernetes/fifo.conf");
        assert!(Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let facts = live_with_root(root.path());
        let error = facts.read_file("/etc/kubernetes/fifo.conf").unwrap_err();
        assert!(
            error.to_string().contains("a FIFO, not a regular file"),
            "{error}"
        );
        // stat still answers: modes and owners of a FIFO are facts like any other
        assert_eq!(
            facts
                .stat("/etc/kubernetes/fifo.conf")
                .unwrap()
                .unwrap()
                .kind,
            FileKind::Other
        );
        assert_eq!(
            facts
                .read_file("/etc/kubernetes/a.conf")
                .unwrap()
                .as_deref(),
            Some("x")
        );
    }

    #[test]
    fn cmdline_is_split_on_nul_without_a_trailing_empty_argument() {
        assert_eq!(
            split_cmdline(b"kube-apiserver\0--secure-port=6443\0"),
            vec!["kube-apiserver", "--secure-port=6443"]
        );
        assert_eq!(
            split_cmdline(b"one arg with spaces"),
            vec!["one arg with spaces"]
        );
        assert!(split_cmdline(b"").is_empty());
    }

    #[test]
    fn proc_entries_become_processes_sorted_by_pid_without_kernel_threads() {
        let proc_dir = tempfile::tempdir().unwrap();
        let p = proc_dir.path();
        write(
            p,
            "200/cmdline",
            "kubelet\0--config=/var/lib/kubelet/config.yaml\0",
            0o444,
        );
        write(p, "200/comm", "kubelet\n", 0o444);
        write(p, "31/cmdline", "/usr/bin/kube-controller-manager\0", 0o444);
        write(p, "31/comm", "kube-controller\n", 0o444);
        write(p, "2/cmdline", "", 0o444);
        write(p, "2/comm", "kthreadd\n", 0o444);
        // A process that ended between listing and reading leaves no cmdline behind.
        fs::create_dir_all(p.join("77")).unwrap();
        write(p, "self/cmdline", "ignored\0", 0o444);

        let processes = read_processes(p).unwrap();
        let summary: Vec<(u32, &str, usize)> = processes
            .iter()
            .map(|process| (process.pid, process.comm.as_str(), process.argv.len()))
            .collect();
        assert_eq!(
            summary,
            vec![(31, "kube-controller", 1), (200, "kubelet", 2)]
        );
    }

    #[test]
    fn processes_are_read_once_per_source() {
        let proc_dir = tempfile::tempdir().unwrap();
        write(proc_dir.path(), "10/cmdline", "etcd\0", 0o444);
        write(proc_dir.path(), "10/comm", "etcd\n", 0o444);
        let live = LiveFacts::new(LiveOptions {
            proc_dir: proc_dir.path().to_path_buf(),
            ..LiveOptions::default()
        });
        assert_eq!(live.processes().unwrap().len(), 1);
        write(proc_dir.path(), "11/cmdline", "kubelet\0", 0o444);
        write(proc_dir.path(), "11/comm", "kubelet\n", 0o444);
        assert_eq!(live.processes().unwrap().len(), 1);
    }

    #[test]
    fn the_real_proc_lists_this_test_process() {
        let live = LiveFacts::new(LiveOptions::default());
        let me = std::process::id();
        let processes = live.processes().unwrap();
        let found = processes.iter().find(|process| process.pid == me).unwrap();
        let exe = std::env::args().next().unwrap();
        assert_eq!(found.argv[0], exe);
        assert!(processes.windows(2).all(|pair| pair[0].pid < pair[1].pid));
    }

    #[test]
    fn stat_maps_node_paths_under_the_root_with_mode_and_names() {
        let root = tempfile::tempdir().unwrap();
        write(
            root.path(),
            "etc/passwd",
            "root:x:0:0::/root:/bin/sh\n",
            0o644,
        );
        write(root.path(), "etc/group", "wheel:x:0:\n", 0o644);
        write(root.path(), "etc/kubernetes/admin.conf", "x", 0o600);
        let stat = live_with_root(root.path())
            .stat("/etc/kubernetes/admin.conf")
            .unwrap()
            .unwrap();
        assert_eq!(stat.kind, FileKind::File);
        assert_eq!(stat.mode_text(), "600");
        assert_eq!(stat.size, 1);
        // The group name comes from the root's group file, not this machine's.
        assert_eq!(stat.owner_text(), "root:wheel");
    }

    #[test]
    fn stat_of_a_missing_path_or_below_a_file_is_none() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "etc/file", "x", 0o644);
        let live = live_with_root(root.path());
        assert_eq!(live.stat("/etc/absent").unwrap(), None);
        assert_eq!(live.stat("/etc/file/below").unwrap(), None);
        assert_eq!(live.read_file("/etc/absent").unwrap(), None);
    }

    #[test]
    fn absolute_symlinks_resolve_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        write(
            root.path(),
            "opt/real/config.yaml",
            "inside the root",
            0o640,
        );
        fs::create_dir_all(root.path().join("etc")).unwrap();
        symlink("/opt/real", root.path().join("etc/linked")).unwrap();
        symlink(
            "../opt/real/config.yaml",
            root.path().join("etc/relative.yaml"),
        )
        .unwrap();
        let live = live_with_root(root.path());

        let stat = live.stat("/etc/linked/config.yaml").unwrap().unwrap();
        assert_eq!((stat.kind, stat.mode), (FileKind::File, 0o640));
        let linked_dir = live.stat("/etc/linked").unwrap().unwrap();
        assert_eq!(linked_dir.kind, FileKind::Dir);
        assert_eq!(
            live.read_file("/etc/relative.yaml").unwrap().as_deref(),
            Some("inside the root")
        );
    }

    #[test]
    fn dotdot_never_climbs_above_the_root() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "etc/hostname", "node-a\n", 0o644);
        let live = live_with_root(root.path());
        assert_eq!(
            live.read_file("/../../etc/hostname").unwrap().as_deref(),
            Some("node-a\n")
        );
    }

    #[test]
    fn a_symlink_loop_is_unreadable_not_absent() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("etc")).unwrap();
        symlink("/etc/loop", root.path().join("etc/loop")).unwrap();
        let error = live_with_root(root.path()).stat("/etc/loop").unwrap_err();
        assert!(
            matches!(&error, FactError::Unreadable { path, .. } if path == "/etc/loop"),
            "{error:?}"
        );
    }

    #[test]
    fn read_file_returns_text_lossily() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("etc")).unwrap();
        fs::write(root.path().join("etc/bytes"), b"ok \xff end").unwrap();
        let text = live_with_root(root.path()).read_file("/etc/bytes").unwrap();
        assert_eq!(text.as_deref(), Some("ok \u{fffd} end"));
    }

    #[test]
    fn reading_a_directory_is_unreadable() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("etc/kubernetes")).unwrap();
        let error = live_with_root(root.path())
            .read_file("/etc/kubernetes")
            .unwrap_err();
        assert!(matches!(error, FactError::Unreadable { .. }), "{error:?}");
    }

    #[test]
    fn list_tree_lists_like_find_sorted_without_entering_symlinked_dirs() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "etc/kubernetes/pki/ca.crt", "c", 0o644);
        write(root.path(), "etc/kubernetes/pki/etcd/ca.key", "k", 0o600);
        write(root.path(), "other/hidden.key", "k", 0o600);
        symlink("/other", root.path().join("etc/kubernetes/pki/elsewhere")).unwrap();
        let live = live_with_root(root.path());

        assert_eq!(
            live.list_tree("/etc/kubernetes/pki").unwrap().to_vec(),
            vec![
                "/etc/kubernetes/pki",
                "/etc/kubernetes/pki/ca.crt",
                "/etc/kubernetes/pki/elsewhere",
                "/etc/kubernetes/pki/etcd",
                "/etc/kubernetes/pki/etcd/ca.key",
            ]
        );
        assert_eq!(
            live.list_tree("/etc/kubernetes/pki/elsewhere")
                .unwrap()
                .to_vec(),
            vec!["/etc/kubernetes/pki/elsewhere"]
        );
        assert_eq!(
            live.list_tree("/etc/kubernetes/pki/ca.crt")
                .unwrap()
                .to_vec(),
            vec!["/etc/kubernetes/pki/ca.crt"]
        );
        assert!(live.list_tree("/etc/absent").unwrap().is_empty());
    }

    #[test]
    fn shell_prefix_and_description_follow_the_root() {
        let at_slash = LiveFacts::new(LiveOptions::default());
        assert_eq!(at_slash.shell_path_prefix(), "");
        assert_eq!(at_slash.describe(), "live node");
        let in_pod = live_with_root(Path::new("/host/"));
        assert_eq!(in_pod.shell_path_prefix(), "/host");
        assert_eq!(in_pod.describe(), "live node (root /host/)");
    }

    #[test]
    fn node_name_comes_from_override_then_root_hostname() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "etc/hostname", "cp-1\n", 0o644);
        assert_eq!(live_with_root(root.path()).identity().name, "cp-1");
        let overridden = LiveFacts::new(LiveOptions {
            root: root.path().to_path_buf(),
            node_name: Some("named".into()),
            ..LiveOptions::default()
        });
        assert_eq!(overridden.identity().name, "named");
    }

    #[test]
    fn node_name_falls_back_to_the_kernel_hostname() {
        let root = tempfile::tempdir().unwrap();
        let proc_dir = tempfile::tempdir().unwrap();
        write(
            proc_dir.path(),
            "sys/kernel/hostname",
            "kernel-name\n",
            0o444,
        );
        let live = LiveFacts::new(LiveOptions {
            root: root.path().to_path_buf(),
            proc_dir: proc_dir.path().to_path_buf(),
            ..LiveOptions::default()
        });
        let identity = live.identity();
        assert_eq!(identity.name, "kernel-name");
        assert!(identity.roles.is_empty());
        assert_eq!(identity.kubernetes_version, None);
    }

    #[test]
    fn shell_script_is_fed_on_stdin_so_multi_line_scripts_work() {
        let live = LiveFacts::new(LiveOptions::default());
        let script = "greet() {\n  echo \"hello $1\"\n}\ngreet node\n";
        let output = live.run_shell(&shell(script)).unwrap();
        assert_eq!(
            output,
            ShellOutput {
                output: "hello node\n".into(),
                exit_code: 0
            }
        );
    }

    #[test]
    fn shell_output_interleaves_stdout_and_stderr_in_order() {
        let live = LiveFacts::new(LiveOptions::default());
        let output = live
            .run_shell(&shell("echo one; echo two >&2; echo three; exit 3"))
            .unwrap();
        assert_eq!(output.output, "one\ntwo\nthree\n");
        assert_eq!(output.exit_code, 3);
    }

    #[test]
    fn a_large_output_does_not_block_the_shell() {
        let live = LiveFacts::new(LiveOptions::default());
        let output = live
            .run_shell(&shell("head -c 300000 /dev/zero | tr '\\0' x"))
            .unwrap();
        assert_eq!(output.output.len(), 300_000);
    }

    #[test]
    fn a_slow_audit_is_killed_with_its_children_at_the_timeout() {
        let live = LiveFacts::new(LiveOptions {
            shell_timeout: Duration::from_millis(300),
            ..LiveOptions::default()
        });
        let started = Instant::now();
        // The subshell's `sleep` holds the output pipe; only a group kill frees it.
        let error = live
            .run_shell(&shell("(sleep 10; echo late) | cat"))
            .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            error,
            FactError::Timeout {
                command: "(sleep 10; echo late) | cat".into(),
                seconds: 1
            }
        );
    }

    #[test]
    fn background_leftovers_are_killed_after_the_time_budget() {
        let live = LiveFacts::new(LiveOptions {
            shell_timeout: Duration::from_millis(500),
            ..LiveOptions::default()
        });
        let started = Instant::now();
        let output = live.run_shell(&shell("echo done; sleep 10 &")).unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(output.output, "done\n");
    }

    #[test]
    fn a_missing_shell_is_a_spawn_error() {
        let live = LiveFacts::new(LiveOptions {
            shell: PathBuf::from("/nonexistent/sh"),
            ..LiveOptions::default()
        });
        let error = live.run_shell(&shell("true")).unwrap_err();
        assert!(matches!(error, FactError::Spawn { .. }), "{error:?}");
    }

    #[test]
    fn a_signal_death_reports_128_plus_the_signal() {
        let live = LiveFacts::new(LiveOptions::default());
        let output = live.run_shell(&shell("kill -TERM $$")).unwrap();
        assert_eq!(output.exit_code, 128 + 15);
    }
}
