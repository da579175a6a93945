//! The results-store flags of `cisgate scan` (`--store`, `--cluster`, `--run-id`) and
//! `--previous store`.

use std::path::Path;

use clap::Args;

use crate::baseline::BaselineArgs;
use crate::store::sink::RunIdentity;

/// `--previous store`: the last run of the same cluster and benchmark in `--store`.
pub const PREVIOUS_FROM_STORE: &str = "store";

#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Results store")]
pub struct StoreArgs {
    /// Keep this run in a results store: a SQLite file (e.g. .cisgate/history.db) or
    /// postgres://user@host/db. `--previous store` then compares with its last run
    #[arg(long, value_name = "URL", env = "CISGATE_STORE")]
    pub store: Option<String>,
    /// The cluster the run belongs to [default: the one the nodes name (a snapshot's
    /// `cluster`, a live node's kubeconfig context), else `default`]
    #[arg(long, value_name = "NAME", env = "CISGATE_CLUSTER")]
    pub cluster: Option<String>,
    /// The run's id in the store; storing an id again changes nothing [default: from the
    /// CI pipeline and job, else unique]
    #[arg(long, value_name = "ID", env = "CISGATE_RUN_ID")]
    pub run_id: Option<String>,
}

impl StoreArgs {
    pub fn identity(&self) -> RunIdentity {
        RunIdentity {
            cluster: self.cluster.clone(),
            run_id: self.run_id.clone(),
        }
    }
}

/// Takes `--previous store` out of the baseline flags (which read files): returns whether
/// it was there. Without `--store` it is an error.
pub fn take_previous_from_store(
    baseline: &mut BaselineArgs,
    store: &StoreArgs,
) -> anyhow::Result<bool> {
    if baseline.previous.as_deref() != Some(Path::new(PREVIOUS_FROM_STORE)) {
        return Ok(false);
    }
    if store.store.is_none() {
        anyhow::bail!(
            "--previous store needs a results store: --store URL or CISGATE_STORE \
             (for a file named `store`, write ./store)"
        );
    }
    baseline.previous = None;
    Ok(true)
}
