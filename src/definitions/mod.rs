//! Definitions: kube-bench-format benchmark trees (ours embedded, or `--config-dir`).

pub mod compiled_form;
pub mod config;
pub mod error;
pub mod load;
pub mod model;
pub mod parse;
pub mod platform;
pub mod probe;
pub mod select;
pub mod tree;
pub mod validate;
pub mod variables;
