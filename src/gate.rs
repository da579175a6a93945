//! The gate: which results make the run fail, and the exit code that says so.
//!
//! Exit codes: 0 no regressions · 1 regressions (or, with `--strict`, stale or expiring
//! exceptions) · 2 the run could not be done as asked · 3 some nodes could not be
//! evaluated (the rest were reported).

use crate::results::{CheckResult, Classification, GateOutcome, NodeResults, RunResults, State};
use crate::runner::Stage;

pub const EXIT_OK: i32 = 0;
pub const EXIT_REGRESSIONS: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_PARTIAL: i32 = 3;

/// Which states gate: `fail` (FAIL, and ERROR unless allowed) or `warn` (WARN too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FailOn {
    #[default]
    Fail,
    Warn,
}

impl FailOn {
    pub fn as_str(self) -> &'static str {
        match self {
            FailOn::Fail => "fail",
            FailOn::Warn => "warn",
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct GatePolicy {
    pub fail_on: FailOn,
    /// ERROR results (could not be evaluated) do not gate.
    pub allow_errors: bool,
    /// Stale and expiring baseline entries fail the gate too.
    pub strict: bool,
}

impl GatePolicy {
    /// The policy a decided run was gated with (as its results record it).
    pub fn of(outcome: &GateOutcome) -> GatePolicy {
        GatePolicy {
            fail_on: if outcome.fail_on == FailOn::Warn.as_str() {
                FailOn::Warn
            } else {
                FailOn::Fail
            },
            allow_errors: outcome.allow_errors,
            strict: false,
        }
    }

    /// Whether a result in this state fails the gate when nothing accepts it.
    pub fn gates(&self, state: State) -> bool {
        match state {
            State::Fail => true,
            State::Error => !self.allow_errors,
            State::Warn => self.fail_on == FailOn::Warn,
            State::Pass | State::Info => false,
        }
    }
}

/// Decides the gate from classified results.
pub fn decide(results: &RunResults, policy: &GatePolicy) -> GateOutcome {
    let regressions = results
        .checks()
        .filter(|(_, _, check)| is_regression(check, policy))
        .count();
    outcome(results, policy, regressions)
}

/// A result that fails the gate: a gating state nothing in the baseline accepts.
pub fn is_regression(check: &CheckResult, policy: &GatePolicy) -> bool {
    policy.gates(check.state)
        && check
            .baseline
            .as_ref()
            .is_none_or(|mark| mark.classification == Classification::Regression)
}

/// The gate as a stage of a streamed run: counts regressions as classified nodes pass,
/// decides at the end (after the baseline's stage filled its summary).
pub struct Counter {
    pub policy: GatePolicy,
    regressions: usize,
}

impl Counter {
    pub fn new(policy: GatePolicy) -> Counter {
        Counter {
            policy,
            regressions: 0,
        }
    }
}

impl Stage for Counter {
    fn node(&mut self, node: &mut NodeResults) {
        self.regressions += node
            .sections
            .iter()
            .flat_map(|s| &s.groups)
            .flat_map(|g| &g.checks)
            .filter(|check| is_regression(check, &self.policy))
            .count();
    }

    fn end(&mut self, run: &mut RunResults) {
        run.gate = outcome(run, &self.policy, self.regressions);
    }

    /// It counts states.
    fn reads_locations(&self) -> bool {
        false
    }
}

/// The verdict for `regressions` and the run's baseline summary and unreadable nodes.
fn outcome(results: &RunResults, policy: &GatePolicy, regressions: usize) -> GateOutcome {
    let baseline_strict_failure = policy.strict
        && results
            .baseline
            .as_ref()
            .is_some_and(|b| !b.stale.is_empty() || !b.expiring.is_empty());
    let expired = results
        .baseline
        .as_ref()
        .is_some_and(|b| !b.expired.is_empty());
    let passed = regressions == 0 && !baseline_strict_failure && !expired;
    let exit_code = if !passed {
        EXIT_REGRESSIONS
    } else if !results.unreadable.is_empty() {
        EXIT_PARTIAL
    } else {
        EXIT_OK
    };
    GateOutcome {
        fail_on: policy.fail_on.as_str().into(),
        allow_errors: policy.allow_errors,
        passed,
        exit_code,
        regressions,
    }
}
