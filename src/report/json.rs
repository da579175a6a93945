//! The JSON results file: cisgate's own versioned format (`docs/results-format.md`),
//! the source every other report can be re-rendered from.
//!
//! [`Json`] renders a whole run in memory; [`JsonSink`] writes the same bytes as a run's
//! nodes arrive, holding one node at a time.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::stream::{finish, indent_json, Outputs, Spool};
use super::{Emitter, RenderOptions};
use crate::results::{Evidence, NodeResults, RunResults, State};
use crate::runner::Sink;

pub struct Json;

impl Emitter for Json {
    fn render(&self, results: &RunResults, _options: &RenderOptions) -> anyhow::Result<Vec<u8>> {
        let mut bytes = serde_json::to_vec_pretty(results)?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

/// The top-level `nodes` member of an empty run, as serde_json's pretty printer writes it.
const NO_NODES: &[u8] = b"\n  \"nodes\": []";
/// A node inside `nodes` is indented by two levels.
const NODE_INDENT: &[u8] = b"    ";

/// `--json` written as nodes arrive; byte for byte what [`Json`] renders for the whole run.
pub struct JsonSink {
    path: PathBuf,
    /// `--json-without-passing-evidence`.
    without_passing_evidence: bool,
    spool: Option<Spool>,
    pretty: Vec<u8>,
    part: Vec<u8>,
    outputs: Outputs,
}

impl JsonSink {
    pub fn new(
        path: &Path,
        without_passing_evidence: bool,
        outputs: Outputs,
    ) -> anyhow::Result<JsonSink> {
        Ok(JsonSink {
            path: path.to_path_buf(),
            without_passing_evidence,
            spool: Some(Spool::create(path)?),
            pretty: Vec::new(),
            part: Vec::new(),
            outputs,
        })
    }
}

impl Sink for JsonSink {
    fn node(&mut self, node: &NodeResults) -> anyhow::Result<()> {
        self.pretty.clear();
        if self.without_passing_evidence {
            let mut node = node.clone();
            without_passing_evidence(&mut node);
            serde_json::to_writer_pretty(&mut self.pretty, &node)?;
        } else {
            serde_json::to_writer_pretty(&mut self.pretty, node)?;
        }
        self.part.clear();
        self.part.push(b'\n');
        self.part.extend_from_slice(NODE_INDENT);
        indent_json(&mut self.part, &self.pretty, NODE_INDENT);
        if let Some(spool) = self.spool.as_mut() {
            spool.add(node, &self.part)?;
        }
        Ok(())
    }

    fn end(&mut self, run: &RunResults) -> anyhow::Result<()> {
        let spool = self.spool.take().expect("ended once");
        let header = serde_json::to_vec_pretty(run)?;
        finish(&self.outputs, "--json", &self.path, |file| {
            match find(&header, NO_NODES).filter(|_| !spool.is_empty()) {
                None => file.write_all(&header)?,
                Some(at) => {
                    let open = at + NO_NODES.len() - 1; // just after `[`
                    file.write_all(&header[..open])?;
                    spool.write_sorted(file, b",")?;
                    file.write_all(b"\n  ")?;
                    file.write_all(&header[open..])?;
                }
            }
            file.write_all(b"\n")?;
            Ok(())
        })
    }
}

/// Empties the evidence (audits, found, expected) of every passing check of `node`.
pub fn without_passing_evidence(node: &mut NodeResults) {
    let checks = node
        .sections
        .iter_mut()
        .flat_map(|s| s.groups.iter_mut())
        .flat_map(|g| g.checks.iter_mut());
    for check in checks.filter(|check| check.state == State::Pass) {
        check.evidence = Evidence::default();
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
