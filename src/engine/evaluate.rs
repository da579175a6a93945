//! (placeholder until the semantics branch lands)
use crate::definitions::model::Tests;
pub struct AuditOutputs<'a> {
    pub command: &'a str,
    pub config: &'a str,
    pub env: &'a str,
    pub has_config_command: bool,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Command,
    Config,
    Env,
}
pub struct ItemOutcome {
    pub source: SourceKind,
    pub key: String,
    pub found: bool,
    pub passed: bool,
    pub expected: String,
}
pub struct TestsOutcome {
    pub passed: bool,
    pub expected: String,
    pub actual: String,
    pub unknown_bin_op: Option<String>,
    pub items: Vec<ItemOutcome>,
}
pub fn evaluate_tests(_t: &Tests, _m: bool, _o: &AuditOutputs) -> TestsOutcome {
    unimplemented!()
}
