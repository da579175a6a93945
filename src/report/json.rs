//! The JSON results file: cisgate's own versioned format (`docs/results-format.md`),
//! the source every other report can be re-rendered from.
//!
//! [`Json`] renders a whole run in memory; [`JsonSink`] writes the same bytes as a run's
//! nodes arrive, holding one node at a time.

use std::io::Write;
use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use arcstr::ArcStr;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::stream::{finish, indent_json, Outputs, Spool};
use super::{Emitter, RenderOptions};
use crate::results::{
    BaselineMark, Change, CheckDetails, Evidence, Location, NodeInfo, NodeResults, RunResults,
    State, Totals, COMPACT_RESULTS_VERSION,
};
use crate::runner::Sink;

/// Which form `--json` writes (`docs/results-format.md`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ResultsFormat {
    /// `results_version` 1: every check carries its title, remediation and evidence.
    #[default]
    Full,
    /// `results_version` 2: each distinct title, remediation and evidence once, in a
    /// top-level `details` table that checks name by key (a fleet's file shrinks by the
    /// number of nodes that share them).
    Compact,
}

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

/// A whole run's `--json` bytes in `format`, passing checks' evidence left out when asked.
pub fn render_results(
    results: &RunResults,
    format: ResultsFormat,
    without_passing: bool,
) -> anyhow::Result<Vec<u8>> {
    let options = RenderOptions::default();
    match format {
        ResultsFormat::Compact => render_compact(results, without_passing),
        ResultsFormat::Full if without_passing => {
            let mut results = results.clone();
            results.nodes.iter_mut().for_each(without_passing_evidence);
            Json.render(&results, &options)
        }
        ResultsFormat::Full => Json.render(results, &options),
    }
}

/// The compact form of a whole run, in memory (`report --from`, console scans).
pub fn render_compact(results: &RunResults, without_passing: bool) -> anyhow::Result<Vec<u8>> {
    let mut table = DetailsTable::default();
    let mut parts = Vec::new();
    for node in &results.nodes {
        let mut pretty = Vec::new();
        table.write_node(node, without_passing, &mut pretty)?;
        let mut part = vec![b'\n'];
        part.extend_from_slice(NODE_INDENT);
        indent_json(&mut part, &pretty, NODE_INDENT);
        parts.push(part);
    }
    let header = RunResults {
        nodes: Vec::new(),
        ..results.clone_header()
    };
    let mut out = Vec::new();
    assemble(
        &mut out,
        &header,
        Some(&table),
        |out| {
            for (index, part) in parts.iter().enumerate() {
                if index > 0 {
                    out.write_all(b",")?;
                }
                out.write_all(part)?;
            }
            Ok(())
        },
        !parts.is_empty(),
    )?;
    Ok(out)
}

/// Each distinct [`CheckDetails`] of a run once, under a key derived from its content (so
/// the same run gives the same keys, whatever order its nodes finish in).
#[derive(Default)]
struct DetailsTable {
    /// Hashed with foldhash: every check's evidence (audit outputs included) is hashed
    /// once per node, a third of the compact form's time with std's SipHash.
    keys: foldhash::HashMap<CheckDetails, String>,
    /// Key → the entry's pretty JSON.
    entries: BTreeMap<String, Vec<u8>>,
}

impl DetailsTable {
    fn key(&mut self, details: CheckDetails) -> anyhow::Result<String> {
        if let Some(key) = self.keys.get(&details) {
            return Ok(key.clone());
        }
        let bytes = serde_json::to_vec(&details)?;
        let digest = Sha256::digest(&bytes);
        let key: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        self.entries
            .insert(key.clone(), serde_json::to_vec_pretty(&details)?);
        self.keys.insert(details, key.clone());
        Ok(key)
    }

    /// `node` in the compact form, its details keyed into the table.
    fn write_node(
        &mut self,
        node: &NodeResults,
        without_passing: bool,
        out: &mut Vec<u8>,
    ) -> anyhow::Result<()> {
        let mut sections = Vec::with_capacity(node.sections.len());
        for section in &node.sections {
            let mut groups = Vec::with_capacity(section.groups.len());
            for group in &section.groups {
                let mut checks = Vec::with_capacity(group.checks.len());
                for check in &group.checks {
                    let mut details = CheckDetails::of(check);
                    if without_passing && check.state == State::Pass {
                        details.evidence = Evidence::default();
                    }
                    checks.push(CompactCheck {
                        id: &check.id,
                        state: check.state,
                        scored: check.scored,
                        check_type: &check.check_type,
                        details: self.key(details)?,
                        location: check.location.as_deref(),
                        baseline: check.baseline.as_deref(),
                        change: check.change,
                    });
                }
                groups.push(CompactGroup {
                    id: &group.id,
                    text: &group.text,
                    checks,
                    totals: group.totals,
                });
            }
            sections.push(CompactSection {
                id: &section.id,
                text: &section.text,
                version: &section.version,
                target: &section.target,
                groups,
                totals: section.totals,
            });
        }
        let compact = CompactNode {
            node: &node.node,
            sections,
            totals: node.totals,
        };
        serde_json::to_writer_pretty(out, &compact)?;
        Ok(())
    }

    /// The table as the top-level `details` member's value, indented one level.
    fn write(&self, out: &mut dyn Write) -> std::io::Result<()> {
        if self.entries.is_empty() {
            return out.write_all(b"{}");
        }
        out.write_all(b"{")?;
        let mut buffer = Vec::new();
        for (index, (key, entry)) in self.entries.iter().enumerate() {
            if index > 0 {
                out.write_all(b",")?;
            }
            buffer.clear();
            buffer.extend_from_slice(b"\n    ");
            buffer.extend_from_slice(&serde_json::to_vec(key)?);
            buffer.extend_from_slice(b": ");
            indent_json(&mut buffer, entry, b"    ");
            out.write_all(&buffer)?;
        }
        out.write_all(b"\n  }")
    }
}

#[derive(Serialize)]
struct CompactNode<'a> {
    node: &'a NodeInfo,
    sections: Vec<CompactSection<'a>>,
    totals: Totals,
}

#[derive(Serialize)]
struct CompactSection<'a> {
    id: &'a ArcStr,
    text: &'a ArcStr,
    version: &'a ArcStr,
    target: &'a ArcStr,
    groups: Vec<CompactGroup<'a>>,
    totals: Totals,
}

#[derive(Serialize)]
struct CompactGroup<'a> {
    id: &'a ArcStr,
    text: &'a ArcStr,
    checks: Vec<CompactCheck<'a>>,
    totals: Totals,
}

#[derive(Serialize)]
struct CompactCheck<'a> {
    id: &'a ArcStr,
    state: State,
    scored: bool,
    #[serde(rename = "type")]
    check_type: &'a ArcStr,
    /// The key of this check's entry in the top-level `details`.
    details: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<&'a Location>,
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline: Option<&'a BaselineMark>,
    #[serde(skip_serializing_if = "Option::is_none")]
    change: Option<Change>,
}

/// The document: `header` (a run without nodes) with the nodes written by `nodes` inside its
/// `nodes` array and, for the compact form, the `details` table before it.
fn assemble<W: Write>(
    out: &mut W,
    header: &RunResults,
    table: Option<&DetailsTable>,
    nodes: impl FnOnce(&mut W) -> std::io::Result<()>,
    any_node: bool,
) -> anyhow::Result<()> {
    let mut header = header.clone();
    if table.is_some() {
        header.results_version = COMPACT_RESULTS_VERSION;
    }
    let bytes = serde_json::to_vec_pretty(&header)?;
    let at = find(&bytes, NO_NODES).expect("a run without nodes has an empty `nodes`");
    // Just after `"nodes": [`, or before `\n  "nodes"` for the table.
    let open = at + NO_NODES.len() - 1;
    match table {
        Some(table) => {
            out.write_all(&bytes[..at])?;
            out.write_all(b"\n  \"details\": ")?;
            table.write(out)?;
            out.write_all(b",")?;
            out.write_all(&bytes[at..open])?;
        }
        None => out.write_all(&bytes[..open])?,
    }
    if any_node {
        nodes(out)?;
        out.write_all(b"\n  ")?;
    }
    out.write_all(&bytes[open..])?;
    out.write_all(b"\n")?;
    Ok(())
}

/// `--json` written as nodes arrive; byte for byte what [`Json`] (or, compact,
/// [`render_compact`]) renders for the whole run.
pub struct JsonSink {
    path: PathBuf,
    /// `--json-without-passing-evidence`.
    without_passing_evidence: bool,
    /// The compact form's table, when `--results-format compact`.
    table: Option<DetailsTable>,
    spool: Option<Spool>,
    pretty: Vec<u8>,
    part: Vec<u8>,
    outputs: Outputs,
}

impl JsonSink {
    pub fn new(
        path: &Path,
        without_passing_evidence: bool,
        format: ResultsFormat,
        outputs: Outputs,
    ) -> anyhow::Result<JsonSink> {
        Ok(JsonSink {
            path: path.to_path_buf(),
            without_passing_evidence,
            table: (format == ResultsFormat::Compact).then(DetailsTable::default),
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
        if let Some(table) = self.table.as_mut() {
            table.write_node(node, self.without_passing_evidence, &mut self.pretty)?;
        } else if self.without_passing_evidence {
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
        let table = self.table.take();
        finish(&self.outputs, "--json", &self.path, |file| {
            let any_node = !spool.is_empty();
            let mut nodes = Some(spool);
            assemble(
                file,
                run,
                table.as_ref(),
                |out| match nodes.take() {
                    Some(spool) => spool.write_sorted(out, b","),
                    None => Ok(()),
                },
                any_node,
            )
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
