//! Deciding each check's state with its evidence (KUBE_BENCH_FORMAT.md §3.1–3.2), plus
//! ERROR for checks that could not be evaluated at all.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, OnceLock};

use arcstr::ArcStr;
use hashbrown::HashTable;
use rayon::prelude::*;

use crate::definitions::load::LoadedControls;
use crate::definitions::model::{Audit, Check, Controls, Group};
use crate::definitions::probe::Probe;
use crate::definitions::variables::Variables;
use crate::facts::{Facts, ShellCommand};
use crate::results::{
    AuditEvidence, CheckResult, Evidence, GroupResult, SectionResult, State, Totals,
};
use crate::sync::locked;

use super::evaluate::{evaluate_tests, AuditOutputs, SourceKind, TestsOutcome};
use super::locate::{locate, CheckPlaces};
use super::probes;
use super::substitute::MissingComponent;
use crate::shared_text::shared;

/// Evidence texts are cut to this many bytes.
pub const EVIDENCE_LIMIT: usize = 4096;

/// Which checks run, and which are turned into INFO (`--skip`).
#[derive(Debug, Clone, Default)]
pub struct CheckFilter {
    /// `--check`: only these ids (empty = all).
    pub only_checks: Vec<String>,
    /// `--group`: only checks of these groups (empty = all).
    pub only_groups: Vec<String>,
    /// `--skip`: these check or group ids are reported as INFO without running.
    pub skip: Vec<String>,
    /// `--scored`: only scored checks.
    pub scored_only: bool,
    /// `--unscored`: only unscored checks.
    pub unscored_only: bool,
}

impl CheckFilter {
    fn includes(&self, group_id: &str, check: &Check) -> bool {
        let listed =
            self.only_checks.is_empty() || self.only_checks.iter().any(|id| *id == *check.id);
        let in_group =
            self.only_groups.is_empty() || self.only_groups.iter().any(|g| g == group_id);
        let scored_as_asked = if check.scored {
            !self.unscored_only
        } else {
            !self.scored_only
        };
        listed && in_group && scored_as_asked
    }

    fn skips(&self, group_id: &str, check_id: &str) -> bool {
        self.skip.iter().any(|id| id == check_id || id == group_id)
    }
}

/// Everything a target's checks are evaluated against.
pub struct TargetContext<'a> {
    pub facts: &'a dyn Facts,
    pub variables: &'a Variables,
    pub missing: &'a [MissingComponent],
    pub filter: &'a CheckFilter,
    pub answers: &'a ProbeAnswers,
    /// Whether results say where to fix each check (file and line). Off when nothing reads
    /// them (a quiet gate): pinning a line reads the file and searches it.
    pub locations: bool,
}

/// Probes already answered on this node. A probe has no side effects and the facts of a
/// node do not change during its scan, so forty checks on the API server's flags ask the
/// process list once, and share one copy of its answer in their evidence.
#[derive(Debug, Default)]
pub struct ProbeAnswers {
    /// Each probe hashed once per question (a map's `get` then `insert` hashed it twice
    /// and cloned it to look it up).
    answers: Mutex<HashTable<(Probe, ProbeAnswer)>>,
    hasher: foldhash::quality::RandomState,
    api: probes::ApiCache,
    /// File texts read to pin a finding's line, by node path.
    texts: Mutex<FastMap<String, Option<Arc<str>>>>,
}

/// Tables asked dozens of times per node: a faster hasher than SipHash.
type FastMap<K, V> = HashMap<K, V, foldhash::quality::RandomState>;

type ProbeAnswer = Result<AuditOutput, probes::ProbeError>;

/// An audit's output (a probe's answer is kept per node): whole (what the tests read), as
/// evidence shows it (bounded), and its hash for [`Verdicts`], taken once per node and
/// audit (a dozen kubelet checks read one config).
#[derive(Debug, Clone)]
struct AuditOutput {
    whole: ArcStr,
    shown: ArcStr,
    hash: u64,
}

impl AuditOutput {
    fn of(whole: ArcStr, shown: ArcStr) -> AuditOutput {
        let hash = foldhash::fast::FixedState::default().hash_one(whole.as_str());
        AuditOutput { whole, shown, hash }
    }
}

impl Default for AuditOutput {
    fn default() -> Self {
        AuditOutput::of(ArcStr::new(), ArcStr::new())
    }
}

impl ProbeAnswers {
    fn answer(&self, probe: &Probe, facts: &dyn Facts) -> ProbeAnswer {
        let hash = self.hasher.hash_one(probe);
        let asked = |(known, _): &(Probe, ProbeAnswer)| known == probe;
        if let Some((_, known)) = locked(&self.answers).find(hash, asked) {
            return known.clone();
        }
        let answer = probes::answer(probe, facts, &self.api)
            .map(|output| AuditOutput::of(output.as_str().into(), bounded_shared(&output)));
        let rehash = |(known, _): &(Probe, ProbeAnswer)| self.hasher.hash_one(known);
        let mut answers = locked(&self.answers);
        // Another thread may have answered it meanwhile: the first answer stays.
        match answers.entry(hash, asked, rehash) {
            hashbrown::hash_table::Entry::Occupied(known) => known.get().1.clone(),
            hashbrown::hash_table::Entry::Vacant(room) => {
                room.insert((probe.clone(), answer.clone()));
                answer
            }
        }
    }

    /// A file's text, read once per node; `None` when it cannot be read.
    pub fn file_text(&self, facts: &dyn Facts, path: &str) -> Option<Arc<str>> {
        if let Some(known) = locked(&self.texts).get(path) {
            return known.clone();
        }
        let text: Option<Arc<str>> = facts.read_file(path).ok().flatten().map(Arc::from);
        locked(&self.texts).insert(path.to_owned(), text.clone());
        text
    }
}

/// What a controls file's checks show on every node and that depends only on the
/// definitions: each audit's kind and command as evidence names them. Made once per loaded
/// controls file and shared by a fleet's nodes (describing a probe and looking its text up
/// per check and node was ~5% of a quiet fleet scan).
#[derive(Debug)]
pub struct PreparedControls {
    /// Per group, per check.
    groups: Vec<Vec<PreparedCheck>>,
}

/// What one check shows and decides the same way on every node of its loaded controls.
#[derive(Debug)]
struct PreparedCheck {
    /// Audit texts, in the order `audit_env`, `audit`, `audit_config`.
    audits: [AuditText; 3],
    /// What locating the check needs that the loaded variables decide; worked out the first
    /// time a finding is located (a quiet gate never locates).
    places: OnceLock<CheckPlaces>,
    /// The evidence of a check decided without running its audits.
    unrun: Vec<AuditEvidence>,
    /// Verdicts of this check's tests on the audit outputs seen so far.
    verdicts: Verdicts,
}

/// A check's tests decided once per distinct audit outputs: the nodes of a fleet mostly
/// give the same outputs (the same manifests and flags), and testing them again was a
/// fifth of a quiet fleet scan. The tests read nothing but the outputs, so equal outputs
/// have an equal verdict. A few sets of outputs are kept per check, so a fleet of nodes
/// that all differ holds no more than that.
#[derive(Debug, Default)]
struct Verdicts {
    seen: Mutex<Vec<SeenOutputs>>,
}

/// At most this many distinct output sets kept per check.
const VERDICTS_KEPT: usize = 16;

#[derive(Debug)]
struct SeenOutputs {
    hash: u64,
    outputs: [ArcStr; 3],
    verdict: Arc<Verdict>,
}

/// What a check's tests decided, without the borrowed outputs of the node that decided it.
#[derive(Debug)]
struct Verdict {
    passed: bool,
    unknown_bin_op: Option<String>,
    /// The output whose evidence is the actual value (its index), or a text of its own.
    actual: Result<usize, ArcStr>,
    expected: ArcStr,
    decisive: ArcStr,
    /// The item a finding's location points at: its source and key.
    located_by: Option<(SourceKind, String)>,
}

impl Verdicts {
    /// The verdict on `outputs` (audit_env, audit, audit_config: whole and shown), from an
    /// earlier node with equal outputs or else `decide`d now.
    fn on(&self, outputs: &[AuditOutput; 3], decide: impl FnOnce() -> Verdict) -> Arc<Verdict> {
        let hash = outputs_hash(outputs);
        let equal = |seen: &&SeenOutputs| {
            seen.hash == hash && seen.outputs.iter().zip(outputs).all(|(a, b)| *a == b.whole)
        };
        if let Some(seen) = locked(&self.seen).iter().find(equal) {
            return Arc::clone(&seen.verdict);
        }
        let verdict = Arc::new(decide());
        let mut seen = locked(&self.seen);
        if seen.len() < VERDICTS_KEPT {
            seen.push(SeenOutputs {
                hash,
                outputs: outputs.clone().map(|output| output.whole),
                verdict: Arc::clone(&verdict),
            });
        }
        verdict
    }
}

fn outputs_hash(outputs: &[AuditOutput; 3]) -> u64 {
    let [env, command, config] = outputs;
    foldhash::fast::FixedState::default().hash_one((env.hash, command.hash, config.hash))
}

impl Verdict {
    fn of(outcome: &TestsOutcome, outputs: &[AuditOutput; 3]) -> Verdict {
        // `actual` is usually an audit's whole output: point at its evidence copy. It is
        // then that very text, which a pointer check finds without comparing kilobytes.
        let actual: &str = &outcome.actual;
        let same_text = |whole: &str| {
            (whole.as_ptr() == actual.as_ptr() && whole.len() == actual.len()) || whole == actual
        };
        let decisive_item = outcome
            .items
            .iter()
            .find(|i| !i.passed)
            .or(outcome.items.first());
        Verdict {
            passed: outcome.passed,
            unknown_bin_op: outcome.unknown_bin_op.clone(),
            actual: outputs
                .iter()
                .position(|output| same_text(&output.whole))
                .ok_or_else(|| bounded_shared(actual)),
            expected: shared(&outcome.expected),
            decisive: shared(&outcome.decisive()),
            located_by: decisive_item.map(|item| (item.source, item.key.clone())),
        }
    }
}

/// An audit's kind and command as evidence shows them; empty for no audit.
#[derive(Debug, Clone, Default)]
struct AuditText {
    kind: ArcStr,
    command: ArcStr,
}

impl PreparedControls {
    pub fn new(controls: &Controls) -> PreparedControls {
        PreparedControls {
            groups: controls
                .groups
                .iter()
                .map(|group| group.checks.iter().map(PreparedCheck::new).collect())
                .collect(),
        }
    }

    fn check(&self, group: usize, check: usize) -> Option<&PreparedCheck> {
        self.groups.get(group)?.get(check)
    }
}

impl PreparedCheck {
    fn new(check: &Check) -> PreparedCheck {
        PreparedCheck {
            audits: check.audits().map(audit_text),
            places: OnceLock::new(),
            unrun: describe_unrun(check),
            verdicts: Verdicts::default(),
        }
    }

    /// `ctx.variables` are those the controls were loaded with (the loaded cache's key).
    fn places(&self, check: &Check, ctx: &TargetContext) -> &CheckPlaces {
        self.places
            .get_or_init(|| CheckPlaces::of(check, ctx.variables))
    }
}

fn audit_text(audit: &Audit) -> AuditText {
    match audit {
        Audit::None => AuditText::default(),
        Audit::Shell(command) => AuditText {
            kind: arcstr::literal!("shell"),
            command: shared(command.trim()),
        },
        Audit::Probe(probe) => AuditText {
            kind: arcstr::literal!("probe"),
            command: shared(&probe.describe()),
        },
    }
}

/// Runs every included check of one controls file.
pub fn run_controls(loaded: &LoadedControls, ctx: &TargetContext) -> SectionResult {
    run_prepared(loaded, &PreparedControls::new(&loaded.controls), ctx)
}

/// [`run_controls`] with the file's definition-only texts already made (`prepared` must be
/// made from `loaded.controls`).
pub fn run_prepared(
    loaded: &LoadedControls,
    prepared: &PreparedControls,
    ctx: &TargetContext,
) -> SectionResult {
    let controls = &loaded.controls;
    let asked = api_probes_asked(controls, ctx);
    announce_api_questions(&asked, ctx);
    if rayon::current_thread_index().is_some() {
        return run_groups(loaded, prepared, ctx);
    }
    // Each kind's pass of filters starts as soon as its list is read, on a thread that
    // only waits for it (not a pool worker): it then overlaps with the earlier groups'
    // checks instead of waiting for its own group (section 5's pod pass waited for 5.1's
    // checks, with one core idle).
    std::thread::scope(|scope| {
        for kind in kinds_listed_by(&asked) {
            scope.spawn(move || ctx.answers.api.run_expected(ctx.facts, kind));
        }
        run_groups(loaded, prepared, ctx)
    })
}

fn run_groups(
    loaded: &LoadedControls,
    prepared: &PreparedControls,
    ctx: &TargetContext,
) -> SectionResult {
    let controls = &loaded.controls;
    let mut groups = Vec::new();
    let mut totals = Totals::default();
    for (group_index, group) in controls.groups.iter().enumerate() {
        // Checks are independent questions to the same facts. Those that wait on a process
        // (shell audits, kubectl) or walk API objects run on every core, their results in the
        // benchmark's order. The others (a node's files and processes, answered in
        // microseconds) run in order, as do all checks inside a pool worker (a fleet, where
        // other nodes already fill the cores): handing them off cost more than running them
        // (a 10,000-file fleet 5% faster; one node never starts the pool).
        let run_one = |(check_index, check): (usize, &Check)| {
            let shell_form = shell_form_of(loaded.to_run.as_ref(), group_index, check_index);
            let skipped = skipped(group, check, ctx);
            let made;
            let texts = match prepared.check(group_index, check_index) {
                Some(texts) => texts,
                None => {
                    made = PreparedCheck::new(check);
                    &made
                }
            };
            run_check_prepared(check, shell_form.unwrap_or(check), skipped, texts, ctx)
        };
        let included = |(_, check): &(usize, &Check)| ctx.filter.includes(&group.id, check);
        let in_order = rayon::current_thread_index().is_some() || !group.checks.iter().any(waits);
        let checks: Vec<CheckResult> = if in_order {
            group
                .checks
                .iter()
                .enumerate()
                .filter(included)
                .map(run_one)
                .collect()
        } else {
            run_api_passes(group, ctx);
            group
                .checks
                .par_iter()
                .enumerate()
                .filter(included)
                .map(run_one)
                .collect()
        };
        let mut group_totals = Totals::default();
        for check in &checks {
            group_totals.add(check.state);
        }
        if checks.is_empty() {
            continue;
        }
        groups.reserve_exact(controls.groups.len() - group_index);
        totals.merge(&group_totals);
        groups.push(GroupResult {
            id: group.id.clone(),
            text: group.text.clone(),
            checks,
            totals: group_totals,
        });
    }
    SectionResult {
        id: controls.id.clone(),
        text: controls.text.clone(),
        version: controls.version.clone(),
        target: controls.node_type.clone(),
        groups,
        totals,
    }
}

/// The API probes the included checks will ask: a check's first audit, when it is an API
/// probe that will run (a check decided without audits, or whose component is missing,
/// asks nothing).
fn api_probes_asked<'c>(controls: &'c Controls, ctx: &TargetContext) -> Vec<&'c Probe> {
    let mut asked = Vec::new();
    for group in &controls.groups {
        for check in &group.checks {
            let runs = runs_its_audits(group, check, ctx);
            let first_audit = check.audits().into_iter().find(|audit| !audit.is_empty());
            match first_audit {
                Some(Audit::Probe(probe @ (Probe::ApiObjects { .. } | Probe::ApiQuery { .. })))
                    if runs && unresolved_component(&probe.describe(), ctx).is_none() =>
                {
                    asked.push(probe)
                }
                _ => {}
            }
        }
    }
    asked
}

/// Tells the facts which kinds will be listed (each once), so a slow source starts on all
/// of them, and the API cache which filters each kind will be asked, so they run in one
/// pass over its objects. The kind the most probes ask for is listed first (of equal ones,
/// the first asked): on a cluster that is the pods, whose list is the longest to read and
/// which most checks wait on.
fn announce_api_questions(probes: &[&Probe], ctx: &TargetContext) {
    let mut kinds: Vec<(&str, usize)> = Vec::new();
    let mut filters: HashMap<&str, Vec<String>> = HashMap::new();
    for probe in probes {
        let listed: Vec<&str> = match probe {
            Probe::ApiObjects { kind, jq } => {
                if let Some(jq) = jq {
                    filters.entry(kind).or_default().push(jq.clone());
                }
                vec![kind.as_str()]
            }
            Probe::ApiQuery { kinds, .. } => kinds.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        };
        for kind in listed {
            match kinds.iter_mut().find(|(known, _)| *known == kind) {
                Some((_, askers)) => *askers += 1,
                None => kinds.push((kind, 1)),
            }
        }
    }
    if !kinds.is_empty() {
        kinds.sort_by_key(|&(_, askers)| std::cmp::Reverse(askers));
        let kinds: Vec<&str> = kinds.into_iter().map(|(kind, _)| kind).collect();
        ctx.facts.prefetch_api_objects(&kinds);
    }
    for (kind, filters) in filters {
        ctx.answers.api.expect_filters(kind, filters);
    }
}

/// Whether a check waits on another process or walks API objects: worth a core of its own.
fn waits(check: &Check) -> bool {
    check.audits().into_iter().any(|audit| match audit {
        Audit::Shell(command) => !command.trim().is_empty(),
        Audit::Probe(probe) => {
            matches!(probe, Probe::ApiObjects { .. } | Probe::ApiQuery { .. })
        }
        Audit::None => false,
    })
}

/// The kinds `api_objects` probes list, each once.
fn kinds_listed_by<'p>(probes: &[&'p Probe]) -> Vec<&'p str> {
    let mut kinds: Vec<&str> = Vec::new();
    for probe in probes {
        if let Probe::ApiObjects { kind, .. } = probe {
            if !kinds.contains(&kind.as_str()) {
                kinds.push(kind);
            }
        }
    }
    kinds
}

/// Each API kind the group's running checks list, run through the filters the target
/// expects of it before the checks start on the pool (see `ApiCache::run_expected`).
fn run_api_passes(group: &Group, ctx: &TargetContext) {
    let probes: Vec<&Probe> = group
        .checks
        .iter()
        .filter(|check| runs_its_audits(group, check, ctx))
        .flat_map(Check::audits)
        .filter_map(|audit| match audit {
            Audit::Probe(probe) => Some(probe),
            _ => None,
        })
        .collect();
    for kind in kinds_listed_by(&probes) {
        ctx.answers.api.run_expected(ctx.facts, kind);
    }
}

/// Whether the run asks the check's audits: it is selected, not skipped, and its type
/// does not decide it without them.
fn runs_its_audits(group: &Group, check: &Check, ctx: &TargetContext) -> bool {
    !skipped(group, check, ctx)
        && ctx.filter.includes(&group.id, check)
        && decided_without_audits(check, &check.check_type, State::Fail).is_none()
}

/// A check counts as type skip in a group of type skip or when `--skip` names it.
fn skipped(group: &Group, check: &Check, ctx: &TargetContext) -> bool {
    group.group_type == "skip" || ctx.filter.skips(&group.id, &check.id)
}

fn shell_form_of(to_run: Option<&Controls>, group: usize, check: usize) -> Option<&Check> {
    to_run?.groups.get(group)?.checks.get(check)
}

/// What running one audit gave.
enum AuditRun {
    /// The whole output, and the evidence's bounded copy of it.
    Output(AuditOutput),
    /// Non-zero exit: kube-bench fails (or warns) the check with this text.
    Failed(String),
    /// Could not be evaluated at all: the check is ERROR.
    Broken(String),
}

/// Decides one check. `shell` is the same check substituted for running here; a `skipped`
/// check (`--skip`, or in a group of type skip) counts as type skip.
pub fn run_check(check: &Check, shell: &Check, skipped: bool, ctx: &TargetContext) -> CheckResult {
    run_check_prepared(check, shell, skipped, &PreparedCheck::new(check), ctx)
}

fn run_check_prepared(
    check: &Check,
    shell: &Check,
    skipped: bool,
    texts: &PreparedCheck,
    ctx: &TargetContext,
) -> CheckResult {
    let check_type = if skipped {
        arcstr::literal!("skip")
    } else {
        check.check_type.clone()
    };
    let mut result = CheckResult {
        id: check.id.clone(),
        text: check.text.clone(),
        state: State::Pass,
        scored: check.scored,
        check_type: check_type.clone(),
        reason: ArcStr::new(),
        remediation: check.remediation.clone(),
        evidence: Evidence::default(),
        location: None,
        baseline: None,
        change: None,
    };
    let fail_or_warn = if check.scored {
        State::Fail
    } else {
        State::Warn
    };
    if let Some((state, reason)) = decided_without_audits(check, &check_type, fail_or_warn) {
        result.state = state;
        result.reason = reason;
        result.evidence.audits = texts.unrun.clone();
        result.location = ctx
            .locations
            .then(|| {
                locate(
                    check,
                    texts.places(check, ctx),
                    None,
                    ctx,
                    state != State::Pass,
                )
            })
            .flatten()
            .map(Box::new);
        return result;
    }
    let mut outputs: [AuditOutput; 3] = Default::default();
    let roles = [
        ("audit_env", &check.audit_env, &shell.audit_env),
        ("audit", &check.audit, &shell.audit),
        ("audit_config", &check.audit_config, &shell.audit_config),
    ];
    // Kept for every node of a fleet: no spare capacity.
    let audits = roles
        .iter()
        .filter(|(_, audit, _)| !audit.is_empty())
        .count();
    result.evidence.audits.reserve_exact(audits);
    for (index, (role, audit, audit_to_run)) in roles.into_iter().enumerate() {
        if audit.is_empty() {
            continue;
        }
        let (run, evidence) = run_audit(role, audit, audit_to_run, &texts.audits[index], ctx);
        result.evidence.audits.push(evidence);
        match run {
            AuditRun::Output(output) => outputs[index] = output,
            AuditRun::Broken(reason) => {
                result.state = State::Error;
                result.reason = reason.into();
                return result;
            }
            AuditRun::Failed(text) if role == "audit_config" => {
                let tolerated = (text.contains("exit status 127")
                    || text.contains("No such file or directory"))
                    && (!outputs[0].whole.is_empty() || !outputs[1].whole.is_empty());
                if !tolerated {
                    result.state = fail_or_warn;
                    result.reason = text.into();
                    return result;
                }
            }
            AuditRun::Failed(text) => {
                result.state = fail_or_warn;
                result.reason = text.into();
                return result;
            }
        }
    }
    let tests = check
        .tests
        .as_ref()
        .expect("checked by decided_without_audits");
    let verdict = texts.verdicts.on(&outputs, || {
        let outcome = evaluate_tests(
            tests,
            check.use_multiple_values,
            &AuditOutputs {
                command: &outputs[1].whole,
                config: &outputs[2].whole,
                env: &outputs[0].whole,
                has_config_command: !check.audit_config.is_empty(),
            },
        );
        Verdict::of(&outcome, &outputs)
    });
    result.evidence.actual = match &verdict.actual {
        Ok(index) => outputs[*index].shown.clone(),
        Err(text) => text.clone(),
    };
    result.evidence.expected = verdict.expected.clone();
    result.evidence.decisive = verdict.decisive.clone();
    if let Some(op) = &verdict.unknown_bin_op {
        result.state = fail_or_warn;
        result.reason = format!("unknown binary operator for tests {op}").into();
    } else if verdict.passed {
        result.state = State::Pass;
    } else {
        result.state = fail_or_warn;
    }
    let located_by = verdict
        .located_by
        .as_ref()
        .map(|(source, key)| (*source, key.as_str()));
    result.location = ctx
        .locations
        .then(|| {
            let pin_line = result.state != State::Pass;
            locate(check, texts.places(check, ctx), located_by, ctx, pin_line)
        })
        .flatten()
        .map(Box::new);
    result
}

/// Rows 1–4 of the state table: decided before any command runs. `written_type` is the
/// check's type as written (kube-bench compares it untrimmed), or `skip` when skipped.
fn decided_without_audits(
    check: &Check,
    written_type: &str,
    fail_or_warn: State,
) -> Option<(State, ArcStr)> {
    if check.scored && written_type.trim().is_empty() && check.tests.is_none() {
        return Some((State::Warn, arcstr::literal!("There are no tests")));
    }
    if written_type == "skip" {
        return Some((State::Info, arcstr::literal!("Test marked as skip")));
    }
    if written_type == "manual" {
        return Some((
            State::Warn,
            arcstr::literal!("Test marked as a manual test"),
        ));
    }
    if check.tests.as_ref().is_none_or(|t| t.test_items.is_empty()) {
        return Some((fail_or_warn, arcstr::literal!("No tests defined")));
    }
    None
}

fn run_audit(
    role: &str,
    audit: &Audit,
    audit_to_run: &Audit,
    text: &AuditText,
    ctx: &TargetContext,
) -> (AuditRun, AuditEvidence) {
    let mut evidence = AuditEvidence {
        role: audit_role(role),
        kind: text.kind.clone(),
        command: text.command.clone(),
        output: ArcStr::new(),
        exit_code: None,
    };
    let run = match audit {
        Audit::None => AuditRun::Output(AuditOutput::default()),
        Audit::Shell(command) => {
            let to_run = match audit_to_run {
                Audit::Shell(c) => c.trim().to_owned(),
                _ => command.trim().to_owned(),
            };
            let on_node = evidence.command.clone();
            run_shell(&on_node, to_run, ctx, &mut evidence)
        }
        Audit::Probe(probe) => match unresolved_component(&evidence.command, ctx) {
            Some(reason) => AuditRun::Broken(reason),
            None => match ctx.answers.answer(probe, ctx.facts) {
                Ok(answer) => {
                    evidence.output = answer.shown.clone();
                    AuditRun::Output(answer)
                }
                Err(e) => AuditRun::Broken(e.to_string()),
            },
        },
    };
    (run, evidence)
}

fn run_shell(
    on_node: &str,
    to_run: String,
    ctx: &TargetContext,
    evidence: &mut AuditEvidence,
) -> AuditRun {
    if let Some(reason) = unresolved_component(on_node, ctx) {
        return AuditRun::Broken(reason);
    }
    let command = ShellCommand {
        on_node: on_node.to_owned(),
        to_run,
    };
    // Checks run in parallel, but shell audits one at a time: kube-bench's `ps -ef | grep`
    // idioms would otherwise see each other's processes.
    static ONE_SHELL_AT_A_TIME: Mutex<()> = Mutex::new(());
    let ran = {
        let _turn = locked(&ONE_SHELL_AT_A_TIME);
        ctx.facts.run_shell(&command)
    };
    match ran {
        Ok(out) => {
            evidence.output = bounded_shared(&out.output);
            evidence.exit_code = Some(out.exit_code);
            if out.exit_code == 0 {
                AuditRun::Output(AuditOutput::of(out.output.into(), evidence.output.clone()))
            } else {
                AuditRun::Failed(format!(
                    "failed to run: \"{on_node}\", output: \"{}\", error: exit status {}",
                    out.output, out.exit_code
                ))
            }
        }
        Err(e) => AuditRun::Broken(e.to_string()),
    }
}

/// An audit that still names `$<component>bin` of a component that is not running cannot
/// say anything about the node: report that instead of running it.
/// A mandatory component that is not running disables *every* `bin` substitution (§5.2):
/// an audit naming the `$<component>bin` of a running component is unresolved too, and
/// would otherwise FAIL on `grep`'s usage text.
fn unresolved_component(command: &str, ctx: &TargetContext) -> Option<String> {
    if let Some(missing) = ctx
        .missing
        .iter()
        .find(|m| command.contains(m.bin_variable.as_str()))
    {
        return Some(missing.describe());
    }
    let first_missing = ctx.missing.first()?;
    let variable = unsubstituted_bin(command)?;
    Some(format!(
        "`{variable}` was not substituted: {}",
        first_missing.describe()
    ))
}

/// The first `$<word>bin` left in a command.
fn unsubstituted_bin(command: &str) -> Option<&str> {
    command.match_indices('$').find_map(|(start, _)| {
        let rest = &command[start + 1..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..end];
        (name.len() > 3 && name.ends_with("bin")).then(|| &command[start..start + 1 + end])
    })
}

fn describe_unrun(check: &Check) -> Vec<AuditEvidence> {
    [
        ("audit_env", &check.audit_env),
        ("audit", &check.audit),
        ("audit_config", &check.audit_config),
    ]
    .into_iter()
    .filter_map(|(role, audit)| {
        let (kind, command) = match audit {
            Audit::Shell(c) if !c.trim().is_empty() => {
                (arcstr::literal!("shell"), shared(c.trim()))
            }
            Audit::Probe(p) => (arcstr::literal!("probe"), shared(&p.describe())),
            _ => return None,
        };
        Some(AuditEvidence {
            role: audit_role(role),
            kind,
            command,
            output: ArcStr::new(),
            exit_code: None,
        })
    })
    .collect()
}

/// The role names, shared rather than allocated per result.
fn audit_role(role: &str) -> ArcStr {
    match role {
        "audit" => arcstr::literal!("audit"),
        "audit_config" => arcstr::literal!("audit_config"),
        "audit_env" => arcstr::literal!("audit_env"),
        other => other.into(),
    }
}

/// [`bounded`], as a shared string for evidence.
fn bounded_shared(text: &str) -> ArcStr {
    if text.len() <= EVIDENCE_LIMIT {
        text.into()
    } else {
        bounded(text).into()
    }
}

/// Cuts evidence text to [`EVIDENCE_LIMIT`] bytes, saying how much was left out.
pub fn bounded(text: &str) -> String {
    if text.len() <= EVIDENCE_LIMIT {
        return text.to_owned();
    }
    let mut end = EVIDENCE_LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}…[{} more bytes not shown]",
        &text[..end],
        text.len() - end
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs(command: &str, config: &str) -> [AuditOutput; 3] {
        // Fresh allocations, as each node's answers are.
        [
            AuditOutput::default(),
            AuditOutput::of(ArcStr::from(command), ArcStr::from(command)),
            AuditOutput::of(ArcStr::from(config), ArcStr::from(config)),
        ]
    }

    fn verdict(passed: bool) -> Verdict {
        Verdict {
            passed,
            unknown_bin_op: None,
            actual: Ok(1),
            expected: ArcStr::new(),
            decisive: ArcStr::new(),
            located_by: None,
        }
    }

    #[test]
    fn equal_outputs_reuse_a_verdict_and_other_outputs_get_their_own() {
        let verdicts = Verdicts::default();
        let first = verdicts.on(&outputs("kube-apiserver --profiling=false", ""), || {
            verdict(true)
        });
        let again = verdicts.on(&outputs("kube-apiserver --profiling=false", ""), || {
            panic!("equal outputs are decided once")
        });
        assert!(Arc::ptr_eq(&first, &again));
        let other = verdicts.on(&outputs("kube-apiserver --profiling=true", ""), || {
            verdict(false)
        });
        assert!(!other.passed);
        // The same text in another audit's place is another set of outputs.
        let moved = verdicts.on(&outputs("", "kube-apiserver --profiling=false"), || {
            verdict(false)
        });
        assert!(!moved.passed);
    }

    #[test]
    fn only_a_few_output_sets_are_kept_per_check() {
        let verdicts = Verdicts::default();
        for node in 0..VERDICTS_KEPT + 10 {
            verdicts.on(&outputs(&format!("node {node}"), ""), || verdict(true));
        }
        assert_eq!(locked(&verdicts.seen).len(), VERDICTS_KEPT);
        // A set not kept is decided again, every time.
        let mut decided = 0;
        for _ in 0..2 {
            verdicts.on(&outputs(&format!("node {}", VERDICTS_KEPT + 5), ""), || {
                decided += 1;
                verdict(true)
            });
        }
        assert_eq!(decided, 2);
    }

    #[test]
    fn unsubstituted_bin_variables_are_found() {
        assert_eq!(
            unsubstituted_bin("/bin/ps -fC $kubeletbin | grep x"),
            Some("$kubeletbin")
        );
        assert_eq!(unsubstituted_bin("echo $PATH $bin ${x}"), None);
        assert_eq!(unsubstituted_bin("/bin/ps -ef | grep kubelet"), None);
    }

    #[test]
    fn evidence_is_cut_at_a_character_boundary() {
        let long = "é".repeat(EVIDENCE_LIMIT);
        let cut = bounded(&long);
        assert!(cut.len() < long.len());
        assert!(cut.contains("more bytes not shown"));
        assert_eq!(bounded("short"), "short");
    }
}
