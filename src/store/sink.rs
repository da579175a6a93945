//! The store as a consumer of finished runs: what `cisgate scan --store` and
//! `cisgate history import` hand it, and the last run it gives back for `--previous`.

use std::path::Path;

use anyhow::Context;
use jiff::Timestamp;

use super::meta::{self, CiInfo, RunMeta};
use super::{Store, Written};
use crate::results::RunResults;

/// Who the run is, as the command line said or as found out.
#[derive(Debug, Clone, Default)]
pub struct RunIdentity {
    /// `--cluster`.
    pub cluster: Option<String>,
    /// `--run-id`.
    pub run_id: Option<String>,
}

impl RunIdentity {
    /// The cluster: `--cluster`, else the one the nodes name (snapshot metadata, a live
    /// node's kubeconfig context), else `default`.
    pub fn cluster(&self, results: &RunResults) -> anyhow::Result<String> {
        match self
            .cluster
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            Some(cluster) => Ok(cluster.to_string()),
            None => meta::default_cluster(results),
        }
    }

    /// The metadata of a scan that started at `started_at`.
    pub fn scan_meta(
        &self,
        results: &RunResults,
        started_at: Timestamp,
    ) -> anyhow::Result<RunMeta> {
        let cluster = self.cluster(results)?;
        let ci = CiInfo::from_process_env();
        let run_id = self.run_id.clone().unwrap_or_else(|| {
            meta::scan_run_id(&ci, &cluster, &results.benchmark.name, started_at)
        });
        Ok(RunMeta {
            run_id,
            started_at,
            cluster,
            git_commit: ci.git_commit,
            pipeline_id: ci.pipeline_id,
            pipeline_url: ci.pipeline_url,
        })
    }
}

/// Stores a run; says on stderr what happened unless `quiet`.
pub fn record(
    url: &str,
    meta: &RunMeta,
    results: &RunResults,
    quiet: bool,
) -> anyhow::Result<Written> {
    let mut store = Store::open(url)?;
    let written = store.write_run(meta, results)?;
    if !quiet {
        let what = match written {
            Written::Stored => "stored",
            Written::AlreadyStored => "already stored, unchanged:",
        };
        eprintln!(
            "cisgate: {what} run {} ({} · {}) in {}",
            meta.run_id,
            meta.cluster,
            results.benchmark.name,
            store.describe()
        );
    }
    Ok(written)
}

/// A results file to import, with what the command line says about it.
#[derive(Debug, Clone)]
pub struct Import<'a> {
    pub file: &'a Path,
    pub identity: RunIdentity,
    /// `--started-at`; default: the file's modification time.
    pub started_at: Option<Timestamp>,
}

/// Reads a JSON results file and stores it as a run (idempotent: the run id defaults to
/// one derived from the file's content and cluster).
pub fn import(store: &mut Store, import: &Import) -> anyhow::Result<(RunMeta, Written)> {
    let file = import.file;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let results: RunResults = crate::results::from_json_slice(&bytes).map_err(|error| {
        anyhow::anyhow!(
            "{}:{}:{}: not a cisgate JSON results file: {error}",
            file.display(),
            error.line(),
            error.column()
        )
    })?;
    let started_at = match import.started_at {
        Some(at) => at,
        None => modified(file)?,
    };
    let cluster = import.identity.cluster(&results)?;
    let ci = CiInfo::from_process_env();
    let meta = RunMeta {
        run_id: import
            .identity
            .run_id
            .clone()
            .unwrap_or_else(|| meta::import_run_id(&bytes, &cluster)),
        started_at,
        cluster,
        git_commit: ci.git_commit,
        pipeline_id: ci.pipeline_id,
        pipeline_url: ci.pipeline_url,
    };
    let written = store.write_run(&meta, &results)?;
    Ok((meta, written))
}

fn modified(file: &Path) -> anyhow::Result<Timestamp> {
    let modified = std::fs::metadata(file)
        .and_then(|m| m.modified())
        .with_context(|| format!("cannot read the modification time of {}", file.display()))?;
    Ok(Timestamp::try_from(modified)?)
}

/// Marks `results` new / unchanged / fixed against the last stored run of the same
/// cluster and benchmark (nothing is marked when there is none, and the summary says so).
pub fn mark_previous_from_store(
    url: &str,
    cluster: &str,
    results: &mut RunResults,
) -> anyhow::Result<()> {
    let mut store = Store::open(url)?;
    let benchmark = results.benchmark.name.clone();
    match store.last_run(cluster, &benchmark)? {
        Some(last) => {
            let earlier = store.load_run(&last)?;
            let label = format!(
                "{} (run {} of {cluster} · {benchmark}, {})",
                store.describe(),
                last.run_id,
                super::read::format_time(last.started_at)
            );
            crate::baseline::previous::mark(results, &earlier, &label);
        }
        None => {
            let empty = without_nodes(results);
            let label = format!(
                "{} (no earlier run of {cluster} · {benchmark})",
                store.describe()
            );
            crate::baseline::previous::mark(results, &empty, &label);
        }
    }
    Ok(())
}

/// The run's header without any node: "an earlier run that had nothing".
fn without_nodes(results: &RunResults) -> RunResults {
    RunResults {
        totals: Default::default(),
        baseline: None,
        previous: None,
        ..results.clone_header()
    }
}
