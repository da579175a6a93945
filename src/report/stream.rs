//! Reports written as a run's nodes arrive ([`crate::runner::Sink`]): each report's nodes
//! go to a spool file in arrival order and are copied into the report, in report order,
//! when the run's header is known. Memory holds one node's rendering and an index, however
//! many nodes the run has.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::destination::{Content, StagedFile};
use crate::results::{NodeResults, RunResults};
use crate::runner::node_key;
use crate::sync::locked;

/// A finished report, waiting for the rest of the set to be renamed into place.
pub struct Finished {
    pub flag: String,
    pub path: PathBuf,
    pub staged: StagedFile,
}

/// Where streamed reports leave their finished file.
pub type Outputs = Arc<Mutex<Vec<Finished>>>;

/// Writes every finished report (and `rendered`, in memory) as one set.
pub fn commit(outputs: &Outputs, rendered: &[super::args::Rendered]) -> anyhow::Result<()> {
    let finished = locked(outputs);
    let mut set: Vec<(&Path, Content)> = finished
        .iter()
        .map(|f| (f.path.as_path(), Content::Staged(&f.staged)))
        .collect();
    set.extend(
        rendered
            .iter()
            .map(|r| (r.path.as_path(), Content::Bytes(&r.bytes))),
    );
    super::destination::write_set(&set).map_err(|(path, error)| {
        let flag = finished
            .iter()
            .find(|f| f.path == path)
            .map(|f| f.flag.as_str())
            .or_else(|| {
                rendered
                    .iter()
                    .find(|r| r.path == path)
                    .map(|r| r.flag.as_str())
            })
            .unwrap_or("");
        anyhow::anyhow!("writing the {flag} report to {}: {error}", path.display())
    })
}

/// Each node's part of a report, kept in a scratch file as it arrives.
pub struct Spool {
    file: BufWriter<File>,
    scratch: StagedFile,
    /// (node name, source, offset, length) per node.
    index: Vec<(String, String, u64, u64)>,
    written: u64,
}

impl Spool {
    pub fn create(destination: &Path) -> io::Result<Spool> {
        let (scratch, file) = StagedFile::scratch(destination)?;
        Ok(Spool {
            file: BufWriter::with_capacity(1 << 20, file),
            scratch,
            index: Vec::new(),
            written: 0,
        })
    }

    /// Keeps `part` as the node's.
    pub fn add(&mut self, node: &NodeResults, part: &[u8]) -> io::Result<()> {
        self.file.write_all(part)?;
        let (name, source) = node_key(node);
        self.index.push((
            name.to_owned(),
            source.to_owned(),
            self.written,
            part.len() as u64,
        ));
        self.written += part.len() as u64;
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Copies every part into `out` in report order (by node name, then source), with
    /// `separator` between two parts.
    pub fn write_sorted(mut self, out: &mut File, separator: &[u8]) -> io::Result<()> {
        self.file.flush()?;
        self.index.sort();
        let spool = self.file.get_mut();
        for (index, (_, _, offset, length)) in self.index.iter().enumerate() {
            if index > 0 {
                out.write_all(separator)?;
            }
            spool.seek(SeekFrom::Start(*offset))?;
            // File to file: the kernel copies (copy_file_range), nothing passes through here.
            io::copy(&mut (&*spool).take(*length), out)?;
        }
        drop(self.scratch);
        Ok(())
    }
}

/// Writes `pretty` (serde_json's pretty output) indented by `indent` more spaces: JSON
/// strings escape their newlines, so every newline in it is between two tokens.
pub fn indent_json(out: &mut Vec<u8>, pretty: &[u8], indent: &[u8]) {
    let mut lines = pretty.split(|byte| *byte == b'\n');
    if let Some(first) = lines.next() {
        out.extend_from_slice(first);
    }
    for line in lines {
        out.push(b'\n');
        out.extend_from_slice(indent);
        out.extend_from_slice(line);
    }
}

/// What a report's per-node rendering may consult before the run's header is known: the
/// gate's policy (which states gate: `fail_on`, `allow_errors`) and the scan's time; the
/// verdict, totals and benchmarks are still open.
pub fn template(
    policy: crate::results::GateOutcome,
    scanned_at: Option<jiff::Timestamp>,
) -> RunResults {
    RunResults {
        results_version: crate::results::RESULTS_VERSION,
        tool: crate::results::ToolInfo::current(),
        scanned_at,
        benchmark: crate::results::BenchmarkInfo {
            name: String::new(),
            source: String::new(),
            selected_because: String::new(),
            targets: Vec::new(),
        },
        benchmarks: Vec::new(),
        nodes: Vec::new(),
        unreadable: Vec::new(),
        totals: Default::default(),
        gate: policy,
        baseline: None,
        previous: None,
    }
}

/// A finished report's file, ready to be filled and handed to [`commit`].
pub fn finish(
    outputs: &Outputs,
    flag: &str,
    path: &Path,
    write: impl FnOnce(&mut File) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let (staged, mut file) = StagedFile::create(path)?;
    write(&mut file)?;
    file.flush()?;
    locked(outputs).push(Finished {
        flag: flag.to_owned(),
        path: path.to_path_buf(),
        staged,
    });
    Ok(())
}
