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
pub mod matching;
pub mod report;
pub mod results;
pub mod runner;
pub mod sanitize;
pub mod shared_text;
pub mod store;
pub mod sync;

/// mimalloc for every binary linking the library (cisgate, its tests and benchmarks): jq
/// evaluation allocates and frees a small iterator per step, where glibc's malloc spent
/// ~40% of a section 5 scan.
/// Wrapped to count each thread's allocations: that is how a jq run's memory is bounded
/// (`engine::jq_bounds`).
#[global_allocator]
static ALLOCATOR: engine::jq_bounds::CountingAllocator<mimalloc::MiMalloc> =
    engine::jq_bounds::CountingAllocator(mimalloc::MiMalloc);
