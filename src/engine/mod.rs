//! Engine: turns definitions and facts into results.
//!
//! `substitute` resolves components and `$variables`, `probes` answers typed probes
//! from the facts, `lookup`/`compare`/`evaluate` are kube-bench's test semantics, and
//! `run` decides each check's state with its evidence; `shared_text` keeps the texts
//! every node's results repeat once.

pub mod choose;
pub mod compare;
pub mod detect;
pub mod document;
pub mod evaluate;
pub mod jq_bounds;
pub mod jsonpath;
pub mod k3s;
pub mod kubelet;
pub mod locate;
pub mod lookup;
pub mod platform;
pub mod probes;
pub mod reads;
pub mod recent_parses;
pub mod run;
pub mod scan;
pub mod shared_text;
pub mod static_pod;
pub mod substitute;
