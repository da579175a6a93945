//! Bounded reads of untrusted files: a node's files (live under `--root` or in a snapshot
//! directory), snapshot files and `cisgate-node.yaml`.
//!
//! - Only regular files are read. A FIFO, a device or a socket is never opened for reading
//!   (a FIFO would block, `/dev/zero` would stream forever): the path is an error.
//! - The file is opened with `O_NONBLOCK` (and `O_NOFOLLOW` when the caller resolved its
//!   symlinks itself), and the opened handle is checked again with `fstat`, so a path
//!   swapped between the check and the open is caught too.
//! - At most the limit is read; a larger file is an error naming the file and the limit
//!   (the size is checked before reading, so a sparse file of terabytes costs nothing).
//!
//! The limits are process-wide, set once from `--max-file-size` and `--max-snapshot-size`.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// The largest node file read (a manifest, a kubelet config, `etc/passwd`, ...).
pub const DEFAULT_MAX_FILE_SIZE: u64 = 16 << 20;
/// The largest snapshot document, compressed or inflated.
pub const DEFAULT_MAX_SNAPSHOT_SIZE: u64 = 256 << 20;

static MAX_FILE_SIZE: AtomicU64 = AtomicU64::new(DEFAULT_MAX_FILE_SIZE);
static MAX_SNAPSHOT_SIZE: AtomicU64 = AtomicU64::new(DEFAULT_MAX_SNAPSHOT_SIZE);

/// A file's bytes as text, invalid UTF-8 replaced by U+FFFD. Valid text (nearly every
/// file) keeps its buffer: `String::from_utf8_lossy(..).into_owned()` checked it more
/// slowly and then copied it.
pub fn into_text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes)
        .unwrap_or_else(|invalid| String::from_utf8_lossy(invalid.as_bytes()).into_owned())
}

/// Which limit a read is held to (each names its flag in errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// A node file: `--max-file-size`.
    NodeFile,
    /// A snapshot document, before and after decompression: `--max-snapshot-size`.
    Snapshot,
}

impl Limit {
    pub fn bytes(self) -> u64 {
        match self {
            Limit::NodeFile => MAX_FILE_SIZE.load(Ordering::Relaxed),
            Limit::Snapshot => MAX_SNAPSHOT_SIZE.load(Ordering::Relaxed),
        }
    }

    pub fn flag(self) -> &'static str {
        match self {
            Limit::NodeFile => "--max-file-size",
            Limit::Snapshot => "--max-snapshot-size",
        }
    }
}

/// Sets the process-wide limits (the command line does this once, before reading).
pub fn set_limits(max_file_size: u64, max_snapshot_size: u64) {
    MAX_FILE_SIZE.store(max_file_size, Ordering::Relaxed);
    MAX_SNAPSHOT_SIZE.store(max_snapshot_size, Ordering::Relaxed);
}

/// Why a bounded read gave nothing.
#[derive(Debug)]
pub enum ReadError {
    /// The open or the read failed (`NotFound` included: callers decide what absence means).
    Io(io::Error),
    /// Not a regular file; `kind` says what it is ("a FIFO", "a directory", ...).
    NotRegular { kind: &'static str },
    /// Larger than the limit.
    TooLarge { limit: Limit },
}

impl ReadError {
    /// Whether the path does not exist (or a parent is not a directory).
    pub fn is_missing(&self) -> bool {
        matches!(self, ReadError::Io(error) if super::rooted::is_missing(error))
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(error) => write!(f, "{error}"),
            ReadError::NotRegular { kind } => write!(f, "{kind}, not a regular file"),
            ReadError::TooLarge { limit } => write!(
                f,
                "larger than the {} limit ({})",
                human_size(limit.bytes()),
                limit.flag()
            ),
        }
    }
}

impl std::error::Error for ReadError {}

impl From<ReadError> for io::Error {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Io(error) => error,
            other => io::Error::other(other.to_string()),
        }
    }
}

/// Reads a regular file of at most `limit` bytes. With `follow_last` false a final symlink
/// is an error (`ELOOP`): for paths whose symlinks the caller already resolved.
pub fn read_regular(path: &Path, limit: Limit, follow_last: bool) -> Result<Vec<u8>, ReadError> {
    let (file, opened) = open_regular_with_metadata(path, follow_last)?;
    read_sized(file, opened.len(), limit)
}

/// [`read_regular`] of a path whose symlinks the caller resolved (a final one is an error),
/// with the `lstat` its resolution made, if any (a snapshot directory's rooted walk): that
/// `lstat` is not asked again. The open file is still checked to be regular.
pub fn read_resolved_regular(
    path: &Path,
    lstat: Option<&std::fs::Metadata>,
    limit: Limit,
) -> Result<Vec<u8>, ReadError> {
    let Some(lstat) = lstat else {
        return read_regular(path, limit, false);
    };
    let (file, opened) = open_checked_regular(path, lstat, false)?;
    read_sized(file, opened.len(), limit)
}

/// Opens a regular file for reading without ever blocking on a FIFO or a device.
pub fn open_regular(path: &Path, follow_last: bool) -> Result<File, ReadError> {
    open_regular_with_metadata(path, follow_last).map(|(file, _)| file)
}

/// [`open_regular`], with the open file's `fstat`.
fn open_regular_with_metadata(
    path: &Path,
    follow_last: bool,
) -> Result<(File, std::fs::Metadata), ReadError> {
    // Not even opened when it is something else: opening a device can have effects.
    let before = if follow_last {
        std::fs::metadata(path)
    } else {
        std::fs::symlink_metadata(path)
    }
    .map_err(ReadError::Io)?;
    open_checked_regular(path, &before, follow_last)
}

/// Opens `path` when `before`, its `stat` or `lstat`, says it is a regular file.
fn open_checked_regular(
    path: &Path,
    before: &std::fs::Metadata,
    follow_last: bool,
) -> Result<(File, std::fs::Metadata), ReadError> {
    if !before.file_type().is_file() {
        return Err(ReadError::NotRegular {
            kind: kind_of(&before.file_type()),
        });
    }
    let mut flags = libc::O_NONBLOCK | libc::O_NOCTTY;
    if !follow_last {
        flags |= libc::O_NOFOLLOW;
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(ReadError::Io)?;
    let opened = file.metadata().map_err(ReadError::Io)?;
    if !opened.file_type().is_file() {
        return Err(ReadError::NotRegular {
            kind: kind_of(&opened.file_type()),
        });
    }
    Ok((file, opened))
}

/// Reads at most `limit` bytes from a regular file (whose size is checked first) or any
/// reader (a decompressor); one byte more is an error, never a truncated result.
pub fn read_limited(file: File, limit: Limit) -> Result<Vec<u8>, ReadError> {
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    read_sized(file, size, limit)
}

/// [`read_limited`] of a file whose size is known from its `fstat`.
fn read_sized(file: File, size: u64, limit: Limit) -> Result<Vec<u8>, ReadError> {
    if size > limit.bytes() {
        return Err(ReadError::TooLarge { limit });
    }
    // `/proc` files say 0 and have more: the size is only a first capacity.
    let capacity = usize::try_from(size).unwrap_or(0);
    read_stream_limited(file, limit, capacity)
}

/// Reads at most `limit` bytes from a stream; more is [`ReadError::TooLarge`]. `capacity`
/// is the expected size (a file's length, a gzip trailer's): with it right, the bytes are
/// read into one allocation of that size and nothing else is allocated or zeroed (a
/// zeroed 64 KiB chunk per read was a tenth of a fleet scan). With it wrong, the buffer
/// grows by doubling but never past the limit (a bomb's buffer peaks at the limit, not at
/// twice it); a full buffer reads one byte before growing, which also tells "exactly at
/// the limit" from "over".
pub fn read_stream_limited(
    mut reader: impl Read,
    limit: Limit,
    capacity: usize,
) -> Result<Vec<u8>, ReadError> {
    let max = usize::try_from(limit.bytes()).unwrap_or(usize::MAX);
    let mut bytes: Vec<u8> = Vec::with_capacity(capacity.min(max));
    loop {
        if bytes.len() >= bytes.capacity().min(max) {
            // Full: one byte tells the end of the stream from more to come, before any growth.
            let mut probe = [0u8; 1];
            if read_retrying(&mut reader, &mut probe)? == 0 {
                return Ok(bytes);
            }
            if bytes.len() >= max {
                return Err(ReadError::TooLarge { limit });
            }
            let target = (bytes.capacity() * 2)
                .max(bytes.len() + (64 << 10))
                .min(max);
            bytes.reserve_exact(target - bytes.len());
            bytes.push(probe[0]);
        }
        let room = (bytes.capacity().min(max) - bytes.len()) as u64;
        // `read_to_end` on a `take` of the free room fills it without zeroing and without
        // growing the buffer; 0 from a non-empty room is the end of the stream.
        let read = (&mut reader)
            .take(room)
            .read_to_end(&mut bytes)
            .map_err(ReadError::Io)?;
        if read == 0 && room > 0 {
            return Ok(bytes);
        }
    }
}

/// Inflates a gzip document held in memory into at most `limit` bytes (members one after
/// another, as `cat a.gz b.gz` makes them, inflate to one text), with the same rules as
/// [`read_stream_limited`]: `capacity` is a first guess (gzip's own trailer records the
/// size), the buffer grows by doubling but never past the limit, and a document at the
/// limit inflates one byte more before it is called too large. The inflater writes into
/// the buffer's spare room: a `Read` adapter over it zeroed every buffer first (1.6% of a
/// quiet fleet scan's instructions).
pub fn gunzip_limited(gzip: &[u8], limit: Limit, capacity: usize) -> Result<Vec<u8>, ReadError> {
    let max = usize::try_from(limit.bytes()).unwrap_or(usize::MAX);
    let mut inflated = Vec::with_capacity(capacity.min(max));
    let mut rest = gzip;
    loop {
        rest = inflate_member(rest, &mut inflated, max, limit)?;
        if rest.is_empty() {
            return Ok(inflated);
        }
    }
}

/// Inflates the gzip member at the start of `input` onto `inflated`; returns what follows it.
fn inflate_member<'a>(
    mut input: &'a [u8],
    inflated: &mut Vec<u8>,
    max: usize,
    limit: Limit,
) -> Result<&'a [u8], ReadError> {
    let mut inflater = flate2::Decompress::new_gzip(15);
    loop {
        if inflated.len() >= inflated.capacity().min(max) {
            if inflated.len() >= max {
                // Full at the limit: one more byte tells the end from more to come.
                let mut probe = [0u8; 1];
                let (status, consumed, produced) =
                    inflate_step(&mut inflater, input, |i, input| {
                        i.decompress(input, &mut probe, flate2::FlushDecompress::None)
                    })?;
                input = &input[consumed..];
                match status {
                    _ if produced > 0 => return Err(ReadError::TooLarge { limit }),
                    flate2::Status::StreamEnd => return Ok(input),
                    _ if consumed == 0 => return Err(ends_early()),
                    _ => continue,
                }
            }
            let target = (inflated.capacity() * 2)
                .max(inflated.len() + (64 << 10))
                .min(max);
            inflated.reserve_exact(target - inflated.len());
        }
        let (status, consumed, produced) = inflate_step(&mut inflater, input, |i, input| {
            i.decompress_vec(input, inflated, flate2::FlushDecompress::None)
        })?;
        input = &input[consumed..];
        match status {
            flate2::Status::StreamEnd => return Ok(input),
            // Room to write and input to read, yet nothing moved: the input ended.
            _ if consumed == 0 && produced == 0 => return Err(ends_early()),
            _ => {}
        }
    }
}

/// One call of the inflater: its status, the input bytes it consumed and the bytes it wrote.
fn inflate_step(
    inflater: &mut flate2::Decompress,
    input: &[u8],
    step: impl FnOnce(&mut flate2::Decompress, &[u8]) -> Result<flate2::Status, flate2::DecompressError>,
) -> Result<(flate2::Status, usize, u64), ReadError> {
    let (read_before, written_before) = (inflater.total_in(), inflater.total_out());
    let status = step(inflater, input)
        .map_err(|error| ReadError::Io(io::Error::new(io::ErrorKind::InvalidData, error)))?;
    let consumed = usize::try_from(inflater.total_in() - read_before).expect("at most the input");
    Ok((status, consumed, inflater.total_out() - written_before))
}

fn ends_early() -> ReadError {
    ReadError::Io(io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the gzip stream ends before its end",
    ))
}

/// One `read`, again when a signal interrupted it.
fn read_retrying(reader: &mut impl Read, buffer: &mut [u8]) -> Result<usize, ReadError> {
    loop {
        match reader.read(buffer) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            other => return other.map_err(ReadError::Io),
        }
    }
}

fn kind_of(file_type: &std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// `16 MiB`, `256 MiB`, `1.5 KiB`, `100 bytes`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size {
            return if bytes.is_multiple_of(size) {
                format!("{} {unit}", bytes / size)
            } else {
                format!("{:.1} {unit}", bytes as f64 / size as f64)
            };
        }
    }
    format!("{bytes} bytes")
}

/// Parses a size flag: `1048576`, `512K`, `16M`, `16MiB`, `1G` (binary units).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (e.g. 16M, 256MiB, 1048576)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        other => return Err(format!("unknown size unit `{other}` (use K, M or G)")),
    };
    number
        .checked_mul(1 << shift)
        .filter(|bytes| *bytes > 0)
        .ok_or_else(|| format!("`{text}` is not a usable size"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn text_is_the_lossy_reading_of_the_bytes() {
        for bytes in [
            &b"plain\n"[..],
            b"caf\xc3\xa9",
            b"bad \xff byte",
            b"cut \xe2\x82",
            b"",
        ] {
            assert_eq!(into_text(bytes.to_vec()), String::from_utf8_lossy(bytes));
        }
    }

    fn make_fifo(path: &Path) {
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success(), "mkfifo {}", path.display());
    }

    #[test]
    fn a_fifo_is_an_error_at_once_not_a_wait() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        make_fifo(&fifo);
        let started = Instant::now();
        let error = read_regular(&fifo, Limit::NodeFile, true).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(error.to_string(), "a FIFO, not a regular file");
    }

    #[test]
    fn a_fifo_swapped_in_after_its_lstat_is_still_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, "was a file").unwrap();
        let lstat = std::fs::symlink_metadata(&path).unwrap();
        assert_eq!(
            read_resolved_regular(&path, Some(&lstat), Limit::NodeFile).unwrap(),
            b"was a file"
        );
        std::fs::remove_file(&path).unwrap();
        make_fifo(&path);
        let started = Instant::now();
        let error = read_resolved_regular(&path, Some(&lstat), Limit::NodeFile).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(error.to_string(), "a FIFO, not a regular file");
        let fifo_lstat = std::fs::symlink_metadata(&path).unwrap();
        let error = read_resolved_regular(&path, Some(&fifo_lstat), Limit::NodeFile).unwrap_err();
        assert_eq!(error.to_string(), "a FIFO, not a regular file");
    }

    #[test]
    fn dev_zero_is_not_read() {
        let error = read_regular(Path::new("/dev/zero"), Limit::NodeFile, true).unwrap_err();
        assert_eq!(error.to_string(), "a character device, not a regular file");
    }

    #[test]
    fn a_sparse_file_past_the_limit_is_an_error_without_reading_it() {
        let dir = tempfile::tempdir().unwrap();
        let sparse = dir.path().join("sparse");
        File::create(&sparse)
            .unwrap()
            .set_len(64 * DEFAULT_MAX_FILE_SIZE)
            .unwrap();
        let error = read_regular(&sparse, Limit::NodeFile, true).unwrap_err();
        assert!(matches!(error, ReadError::TooLarge { .. }));
        assert_eq!(
            error.to_string(),
            "larger than the 16 MiB limit (--max-file-size)"
        );
    }

    #[test]
    fn a_final_symlink_is_refused_when_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), "x").unwrap();
        std::os::unix::fs::symlink("file", dir.path().join("link")).unwrap();
        assert_eq!(
            read_regular(&dir.path().join("link"), Limit::NodeFile, true).unwrap(),
            b"x"
        );
        let error = read_regular(&dir.path().join("link"), Limit::NodeFile, false).unwrap_err();
        assert_eq!(error.to_string(), "a symbolic link, not a regular file");
    }

    #[test]
    fn streams_past_the_limit_are_errors_not_truncations() {
        let max = Limit::NodeFile.bytes() as usize;
        let exact = vec![b'a'; max];
        assert_eq!(
            read_stream_limited(&exact[..], Limit::NodeFile, 0)
                .unwrap()
                .len(),
            max
        );
        let over = vec![b'a'; max + 1];
        assert!(matches!(
            read_stream_limited(&over[..], Limit::NodeFile, 0),
            Err(ReadError::TooLarge { .. })
        ));
    }

    #[test]
    fn a_stream_over_the_limit_never_grows_the_buffer_past_the_limit() {
        // A gzip bomb under `prlimit --as`: doubling a buffer at the limit to twice it
        // (plus the copy) ran out of address space instead of naming the limit.
        let max = Limit::NodeFile.bytes() as usize;
        let mut exact = read_stream_limited(&vec![b'a'; max][..], Limit::NodeFile, 100).unwrap();
        assert!(exact.capacity() <= max, "{} > {max}", exact.capacity());
        exact.clear();
        let right_hint = read_stream_limited(&b"twelve bytes"[..], Limit::NodeFile, 12).unwrap();
        assert_eq!((right_hint.len(), right_hint.capacity()), (12, 12));
        let over = vec![b'a'; max + 1];
        for hint in [0, 1, max - 1, max, max + 1] {
            assert!(
                matches!(
                    read_stream_limited(&over[..], Limit::NodeFile, hint),
                    Err(ReadError::TooLarge { .. })
                ),
                "hint {hint}"
            );
        }
    }

    fn gzip(text: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(text).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn gzip_members_inflate_to_one_text_whatever_the_first_guess() {
        let mut two = gzip(b"first member, ");
        two.extend(gzip(b"second member"));
        for capacity in [0, 1, 5, 27, 1 << 20] {
            assert_eq!(
                gunzip_limited(&two, Limit::NodeFile, capacity).unwrap(),
                b"first member, second member",
                "capacity {capacity}"
            );
        }
        let long: Vec<u8> = (0..300_000u32).flat_map(|n| n.to_le_bytes()).collect();
        assert_eq!(
            gunzip_limited(&gzip(&long), Limit::NodeFile, 0).unwrap(),
            long
        );
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit_and_a_document_at_it_inflates() {
        let max = Limit::NodeFile.bytes() as usize;
        let exact = gunzip_limited(&gzip(&vec![b'a'; max]), Limit::NodeFile, 100).unwrap();
        assert_eq!(exact.len(), max);
        assert!(exact.capacity() <= max, "{} > {max}", exact.capacity());
        let over = gzip(&vec![b'a'; max + 1]);
        for capacity in [0, max - 1, max, max + 1] {
            assert!(
                matches!(
                    gunzip_limited(&over, Limit::NodeFile, capacity),
                    Err(ReadError::TooLarge { .. })
                ),
                "capacity {capacity}"
            );
        }
    }

    #[test]
    fn truncated_corrupt_or_trailing_garbage_gzip_is_an_error() {
        let whole = gzip(b"some text that is long enough to compress into a few bytes");
        for cut in [1, 10, whole.len() / 2, whole.len() - 1] {
            let error = gunzip_limited(&whole[..cut], Limit::NodeFile, 0).unwrap_err();
            assert!(matches!(error, ReadError::Io(_)), "cut {cut}: {error}");
        }
        let mut corrupt = whole.clone();
        corrupt[12] ^= 0xff;
        corrupt[13] ^= 0xff;
        assert!(gunzip_limited(&corrupt, Limit::NodeFile, 0).is_err());
        let mut trailing = whole.clone();
        trailing.extend_from_slice(b"not gzip");
        assert!(gunzip_limited(&trailing, Limit::NodeFile, 0).is_err());
    }

    #[test]
    fn missing_files_say_so() {
        let error =
            read_regular(Path::new("/nonexistent/file"), Limit::NodeFile, true).unwrap_err();
        assert!(error.is_missing());
    }

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("16M"), Ok(16 << 20));
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("M").is_err());
        assert_eq!(human_size(16 << 20), "16 MiB");
        assert_eq!(human_size(100), "100 bytes");
    }
}
