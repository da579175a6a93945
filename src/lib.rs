//! cisgate checks Kubernetes nodes and clusters against the CIS Kubernetes Benchmark.
//!
//! The modules follow the pipeline in `docs/architecture.md`:
//! definitions → facts → engine → results → baseline → report → exit code.

pub mod baseline;
pub mod cli;
pub mod definitions;
pub mod engine;
pub mod facts;
pub mod gate;
pub mod report;
pub mod results;
