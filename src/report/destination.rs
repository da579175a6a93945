//! Writing a run's outputs as one set.
//!
//! - A regular file (or a new path) is written to a temporary file beside it and renamed
//!   into place; every temporary file is complete before the first rename, so an
//!   interrupted run leaves either all old or all new reports.
//! - On SIGINT or SIGTERM while the temporary files are written, they are removed and the
//!   run ends (exit 130 / 143) before anything is renamed.
//! - A destination that is not a regular file (`/dev/null`, a FIFO, a terminal) or is a
//!   symlink (`/dev/stdout`) is written in place: renaming over it would replace the
//!   device node or the link.
//! - `-` is stdout, written last; a reader that stops early (`| head`) is no failure.
//! - A missing parent directory of a report is created.
//!
//! Every write error (`/dev/full`: no space) is returned, naming the destination.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};

/// The signal that asked the run to stop while temporaries existed (0: none).
static INTERRUPTED: AtomicI32 = AtomicI32::new(0);

/// Writes every `(path, bytes)`; on failure, the path it failed on and why.
pub fn write_all(outputs: &[(&Path, &[u8])]) -> Result<(), (PathBuf, io::Error)> {
    let contents: Vec<(&Path, Content)> = outputs
        .iter()
        .map(|(path, bytes)| (*path, Content::Bytes(bytes)))
        .collect();
    write_set(&contents)
}

/// What goes to a destination: bytes rendered in memory, or a file written as the run went.
pub enum Content<'a> {
    Bytes(&'a [u8]),
    Staged(&'a StagedFile),
}

/// A report written while the run goes on: a temporary file beside its destination (renamed
/// into place with the rest of the set), or in the temp directory for a destination that is
/// written in place or is stdout (copied there). Removed when dropped uncommitted.
pub struct StagedFile {
    temporary: PathBuf,
    beside: bool,
}

impl StagedFile {
    /// A new, empty staged file for `destination`, open for writing.
    pub fn create(destination: &Path) -> io::Result<(StagedFile, std::fs::File)> {
        Self::create_as(destination, "tmp")
    }

    /// A scratch file for work on `destination` (a spool of its parts), never renamed.
    pub fn scratch(destination: &Path) -> io::Result<(StagedFile, std::fs::File)> {
        let (mut staged, file) = Self::create_as(destination, "spool")?;
        staged.beside = false;
        Ok((staged, file))
    }

    fn create_as(destination: &Path, kind: &str) -> io::Result<(StagedFile, std::fs::File)> {
        let beside = is_atomic(destination);
        let temporary = if beside {
            let mut path = temporary_path(destination).into_os_string();
            if kind != "tmp" {
                path.push(format!("-{kind}"));
            }
            PathBuf::from(path)
        } else {
            std::env::temp_dir().join(format!(
                "cisgate-report-{}-{}",
                std::process::id(),
                STAGED.fetch_add(1, Ordering::SeqCst)
            ))
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temporary)?;
        Ok((StagedFile { temporary, beside }, file))
    }

    pub fn path(&self) -> &Path {
        &self.temporary
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        // gone already when renamed into place
        let _ = std::fs::remove_file(&self.temporary);
    }
}

/// Numbers staged files of one process.
static STAGED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Writes every output as one set: all renamed into place only when all are complete.
pub fn write_set(outputs: &[(&Path, Content)]) -> Result<(), (PathBuf, io::Error)> {
    if outputs.is_empty() {
        return Ok(()); // a quiet gate: no signal handlers to install and put back
    }
    let _signals = SignalGuard::install();
    let atomic: Vec<bool> = outputs.iter().map(|(path, _)| is_atomic(path)).collect();
    let of_kind = |wanted: bool| {
        outputs
            .iter()
            .zip(&atomic)
            .filter(move |((path, _), atomic)| **atomic == wanted && !is_stdout(path))
            .map(|(output, _)| output)
    };
    let mut temporaries: Vec<(PathBuf, &Path)> = Vec::new();
    let fail = |temporaries: &[(PathBuf, &Path)], path: &Path, error: io::Error| {
        remove_all(temporaries);
        Err((path.to_path_buf(), error))
    };
    for (path, content) in of_kind(true) {
        let written = match content {
            Content::Bytes(bytes) => write_temporary(path, bytes),
            Content::Staged(staged) if staged.beside => Ok(staged.temporary.clone()),
            Content::Staged(staged) => {
                std::fs::read(&staged.temporary).and_then(|bytes| write_temporary(path, &bytes))
            }
        };
        match written {
            Ok(temporary) => temporaries.push((temporary, path)),
            Err(error) => return fail(&temporaries, path, error),
        }
        stop_if_interrupted(&temporaries);
    }
    stop_if_interrupted(&temporaries);
    for (index, (temporary, path)) in temporaries.iter().enumerate() {
        if let Err(error) = std::fs::rename(temporary, path) {
            return fail(&temporaries[index..], path, error);
        }
    }
    for (path, content) in of_kind(false) {
        with_content(content, |reader| write_in_place(path, reader))
            .map_err(|error| (path.to_path_buf(), error))?;
    }
    for (_, content) in outputs.iter().filter(|(path, _)| is_stdout(path)) {
        with_content(content, write_stdout).map_err(|error| (PathBuf::from("-"), error))?;
    }
    Ok(())
}

/// Runs `write` on a reader of the content.
fn with_content(
    content: &Content,
    write: impl FnOnce(&mut dyn io::Read) -> io::Result<()>,
) -> io::Result<()> {
    match content {
        Content::Bytes(mut bytes) => write(&mut bytes),
        Content::Staged(staged) => write(&mut io::BufReader::new(std::fs::File::open(
            &staged.temporary,
        )?)),
    }
}

/// Whether SIGINT or SIGTERM arrived while a run's reports were being written.
pub fn interrupted() -> Option<i32> {
    match INTERRUPTED.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// SIGINT and SIGTERM noted, not fatal, while it lives: a run writing staged reports checks
/// [`interrupted`] between nodes and stops, its staged files removed.
pub struct Interruptible(#[allow(dead_code)] SignalGuard);

impl Interruptible {
    pub fn install() -> Interruptible {
        Interruptible(SignalGuard::install())
    }
}

fn is_stdout(path: &Path) -> bool {
    path == Path::new("-")
}

/// A new path or an existing regular file that is not a symlink.
fn is_atomic(path: &Path) -> bool {
    !is_stdout(path)
        && match std::fs::symlink_metadata(path) {
            Ok(metadata) => metadata.file_type().is_file(),
            Err(_) => true,
        }
}

/// The temporary file beside `path`: `.NAME.cisgate-tmp-PID`.
fn temporary_path(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".into());
    dir.join(format!(".{file_name}.cisgate-tmp-{}", std::process::id()))
}

fn write_temporary(path: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
    let temporary = temporary_path(path);
    let written = std::fs::File::create(&temporary)
        .and_then(|mut file| file.write_all(bytes).and_then(|()| file.flush()));
    match written {
        Ok(()) => Ok(temporary),
        Err(error) => {
            let _ = std::fs::remove_file(&temporary);
            Err(error)
        }
    }
}

/// A device, a FIFO or what a symlink leads to: opened for writing as `>` would.
fn write_in_place(path: &Path, bytes: &mut dyn io::Read) -> io::Result<()> {
    let is_regular = std::fs::metadata(path).is_ok_and(|m| m.is_file());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(is_regular)
        .open(path)?;
    match io::copy(bytes, &mut file).and_then(|_| file.flush()) {
        // a pipe whose reader stopped early (`--json /dev/stdout | head`) wanted no more
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

fn write_stdout(bytes: &mut dyn io::Read) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match io::copy(bytes, &mut out).and_then(|_| out.flush()) {
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

fn remove_all(temporaries: &[(PathBuf, &Path)]) {
    for (temporary, _) in temporaries {
        let _ = std::fs::remove_file(temporary);
    }
}

/// Ends the run, its temporaries removed, when a signal arrived while they were written.
fn stop_if_interrupted(temporaries: &[(PathBuf, &Path)]) {
    let signal = INTERRUPTED.load(Ordering::SeqCst);
    if signal != 0 {
        remove_all(temporaries);
        eprintln!("cisgate: interrupted; no report was changed");
        std::process::exit(128 + signal);
    }
}

extern "C" fn note_signal(signal: libc::c_int) {
    INTERRUPTED.store(signal, Ordering::SeqCst);
}

/// SIGINT and SIGTERM noted (not fatal) while it lives; the previous handlers after.
struct SignalGuard {
    previous: Vec<(libc::c_int, libc::sigaction)>,
}

impl SignalGuard {
    fn install() -> Self {
        let mut previous = Vec::new();
        for signal in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: a zeroed sigaction is valid; the handler only stores to an atomic,
            // which is async-signal-safe.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = note_signal as *const () as libc::sighandler_t;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signal, &action, &mut old) == 0 {
                    previous.push((signal, old));
                }
            }
        }
        SignalGuard { previous }
    }
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        for (signal, old) in &self.previous {
            // SAFETY: restores the action saved by `install`.
            unsafe {
                libc::sigaction(*signal, old, std::ptr::null_mut());
            }
        }
        let signal = INTERRUPTED.swap(0, Ordering::SeqCst);
        if signal != 0 {
            // arrived after every report was in place: the set is complete; stop now
            std::process::exit(128 + signal);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_is_written_whole_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.json");
        let b = dir.path().join("b.xml");
        std::fs::write(&a, "old").unwrap();
        write_all(&[(&a, b"new a"), (&b, b"new b")]).unwrap();
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "new a");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "new b");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn one_failing_destination_leaves_every_old_report() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.json");
        std::fs::write(&a, "old").unwrap();
        let missing_dir = dir.path().join("nope/b.xml");
        let (failed, _) = write_all(&[(&a, b"new"), (&missing_dir, b"new")]).unwrap_err();
        assert_eq!(failed, missing_dir);
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn symlinks_and_devices_are_written_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target.txt");
        std::fs::write(&target, "old old old").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_all(&[(&link, b"new"), (Path::new("/dev/null"), b"x")]).unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        assert!(std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device());
    }

    #[test]
    fn a_full_device_is_an_error() {
        if !Path::new("/dev/full").exists() {
            return;
        }
        let (failed, error) = write_all(&[(Path::new("/dev/full"), b"x")]).unwrap_err();
        assert_eq!(failed, Path::new("/dev/full"));
        assert_eq!(error.raw_os_error(), Some(libc::ENOSPC), "{error}");
    }

    use std::os::unix::fs::FileTypeExt;
}
