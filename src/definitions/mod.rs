//! Definitions: kube-bench-format benchmark trees (ours embedded, or `--config-dir`).

pub mod model;
pub mod probe;
