//! Matching: kube-bench's patterns and how a test item finds and compares its value —
//! Go regular expressions translated for the `regex` crate, JSONPath templates over JSON
//! or YAML documents, flag/env/path lookups, the compare operators — and the names a jq
//! filter may not use.
//!
//! Below both `definitions` (which validates benchmark files with it, at load and at build
//! time) and `engine` (which evaluates with it); it imports neither. `build.rs` compiles
//! these files into the build script, so they use nothing of the crate but `crate::sync`
//! and each other.

pub mod block_yaml;
pub mod compare;
pub mod document;
pub mod go_regex;
pub mod jq_names;
pub mod jsonpath;
pub mod lines;
pub mod lookup;
pub mod recent_parses;
pub mod stars;
