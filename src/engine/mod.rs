//! Engine: turns definitions and facts into results.
//!
//! `substitute` resolves components and `$variables`, `probes` answers typed probes
//! from the facts, `evaluate` applies kube-bench's test semantics (`crate::matching`), and
//! `run` decides each check's state with its evidence; `crate::shared_text` keeps the
//! texts every node's results repeat once.

pub mod choose;
pub mod detect;
pub mod evaluate;
pub mod jq_bounds;
pub mod jq_native;
pub mod k3s;
pub mod kubelet;
pub mod locate;
pub mod name_glob;
pub mod platform;
pub mod probes;
pub mod reads;
pub mod run;
pub mod scan;
pub mod static_pod;
pub mod substitute;

// Moved to `crate::matching` (definitions validate with them without importing the engine);
// the old paths stay for callers outside the crate.
pub use crate::matching::{compare, document, jsonpath, lookup, recent_parses};
