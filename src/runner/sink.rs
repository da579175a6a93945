//! Where a run's results go: every consumer (report emitters, the baseline classifier, the
//! gate's count, a collector for whole-run consumers) sees the same stream of nodes, as
//! ripgrep's searcher feeds its printer through a `Sink`.
//!
//! Nodes arrive in the order they finish (on any worker thread), not in report order:
//! a consumer that writes nodes in report order keeps them by [`node_key`] (see
//! `report::spool`). The run's header — benchmarks, totals, unreadable nodes, baseline
//! summary, gate — is known only at the end and comes with [`Sink::end`].

use crate::results::{NodeResults, RunResults};
use crate::sync::locked;
use std::sync::Mutex;

/// A consumer of a run's results.
pub trait Sink: Send {
    /// Before the first node: create files, write what does not depend on the run.
    fn begin(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
    /// One node's results, marked by every [`Stage`], in completion order.
    fn node(&mut self, node: &NodeResults) -> anyhow::Result<()>;
    /// After the last node: `run` is the header (every field but `nodes`, which is empty).
    fn end(&mut self, run: &RunResults) -> anyhow::Result<()>;
    /// Whether it reads where a check is fixed (`CheckResult::location`). When nothing of a
    /// run does, the runner skips finding them ([`NodeRunner::without_locations`]).
    ///
    /// [`NodeRunner::without_locations`]: super::NodeRunner::without_locations
    fn reads_locations(&self) -> bool {
        true
    }
}

/// A step that marks each node before the sinks see it (baseline classification, changes
/// since a previous run) and fills its part of the header at the end (summary, gate).
pub trait Stage: Send {
    fn node(&mut self, node: &mut NodeResults);
    fn end(&mut self, run: &mut RunResults);
    /// Whether it reads checks' locations (see [`Sink::reads_locations`]).
    fn reads_locations(&self) -> bool {
        true
    }
}

/// A node's place in report order: by name, then by where it came from.
pub fn node_key(node: &NodeResults) -> (&str, &str) {
    (&node.node.name, &node.node.source)
}

/// Stages in order, then every sink, shared by the worker threads: each sink has its own
/// lock, so two threads can write two reports at once.
pub struct Pipeline {
    stages: Mutex<Vec<Box<dyn Stage>>>,
    sinks: Vec<Mutex<Box<dyn Sink>>>,
}

impl Pipeline {
    pub fn new(stages: Vec<Box<dyn Stage>>, sinks: Vec<Box<dyn Sink>>) -> Pipeline {
        Pipeline {
            stages: Mutex::new(stages),
            sinks: sinks.into_iter().map(Mutex::new).collect(),
        }
    }

    /// Whether any stage or sink reads checks' locations.
    pub fn reads_locations(&self) -> bool {
        locked(&self.stages)
            .iter()
            .any(|stage| stage.reads_locations())
            || self.sinks.iter().any(|sink| locked(sink).reads_locations())
    }

    pub fn begin(&self) -> anyhow::Result<()> {
        self.sinks.iter().try_for_each(|sink| locked(sink).begin())
    }

    /// Marks the node, then hands it to every sink (free ones first).
    pub fn node(&self, mut node: NodeResults) -> anyhow::Result<()> {
        for stage in locked(&self.stages).iter_mut() {
            stage.node(&mut node);
        }
        let mut done = vec![false; self.sinks.len()];
        for (index, sink) in self.sinks.iter().enumerate() {
            if let Ok(mut sink) = sink.try_lock() {
                done[index] = true;
                sink.node(&node)?;
            }
        }
        for (index, sink) in self.sinks.iter().enumerate() {
            if !done[index] {
                locked(sink).node(&node)?;
            }
        }
        Ok(())
    }

    /// Lets every stage fill its part of the header.
    pub fn finish_header(&self, run: &mut RunResults) {
        for stage in locked(&self.stages).iter_mut() {
            stage.end(run);
        }
    }

    /// Ends every sink, side by side (each report's last part is written on its own thread;
    /// scoped threads, not rayon's pool, which a one-node run never starts). The first
    /// error in sink order is the one reported.
    pub fn end(self, run: &RunResults) -> anyhow::Result<()> {
        let end = |sink: Mutex<Box<dyn Sink>>| {
            sink.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .end(run)
        };
        let mut sinks = self.sinks.into_iter();
        let Some(first) = sinks.next() else {
            return Ok(());
        };
        std::thread::scope(|scope| {
            let others: Vec<_> = sinks.map(|sink| scope.spawn(move || end(sink))).collect();
            let mut outcome = end(first);
            for other in others {
                let ended = other
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                outcome = outcome.and(ended);
            }
            outcome
        })
    }
}

/// Keeps every node, for consumers that need the whole run at once (the console report,
/// reports not yet written as nodes arrive, the results store).
#[derive(Default)]
pub struct Collect {
    nodes: Vec<NodeResults>,
}

impl Collect {
    /// The whole run: the header with its nodes in report order.
    pub fn into_results(mut self, header: RunResults) -> RunResults {
        self.nodes.sort_by(|a, b| node_key(a).cmp(&node_key(b)));
        RunResults {
            nodes: self.nodes,
            ..header
        }
    }

    pub fn push(&mut self, node: NodeResults) {
        self.nodes.push(node);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counting;

    impl Stage for Counting {
        fn node(&mut self, _: &mut NodeResults) {}
        fn end(&mut self, _: &mut RunResults) {}
        fn reads_locations(&self) -> bool {
            false
        }
    }

    struct Report;

    impl Sink for Report {
        fn node(&mut self, _: &NodeResults) -> anyhow::Result<()> {
            Ok(())
        }
        fn end(&mut self, _: &RunResults) -> anyhow::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn locations_are_read_when_any_stage_or_sink_reads_them_and_by_default() {
        assert!(!Pipeline::new(vec![Box::new(Counting)], Vec::new()).reads_locations());
        assert!(Pipeline::new(vec![Box::new(Counting)], vec![Box::new(Report)]).reads_locations());
        struct Located;
        impl Stage for Located {
            fn node(&mut self, _: &mut NodeResults) {}
            fn end(&mut self, _: &mut RunResults) {}
        }
        assert!(Pipeline::new(vec![Box::new(Located)], Vec::new()).reads_locations());
    }
}
