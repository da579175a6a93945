//! Answers typed probes from the facts, printing what the equivalent kube-bench shell
//! idiom prints (see `docs/probes.md`). No process is spawned and no shell is involved.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::definitions::probe::Probe;
use crate::facts::api_value::ApiValue;
use crate::facts::{ApiObjects, FactError, Facts};
use crate::sync::locked;

use super::jq_bounds;
use super::jq_native::{self, NativeFilter};
use super::k3s;
use super::kubelet;
use super::name_glob::NameGlob;
use super::substitute::runs_binary;

/// Why a probe could not be answered: the check becomes ERROR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    Fact(#[from] FactError),
    #[error("{0}")]
    Invalid(String),
}

/// API objects of each kind, sorted and converted for jq once per node: a benchmark asks
/// a dozen questions of the same pods.
#[derive(Default)]
pub struct ApiCache {
    kinds: Mutex<HashMap<String, KindSlot>>,
    /// Kind → the `api_objects` filters the running target's checks will ask of it.
    expected: Mutex<HashMap<String, Arc<[String]>>>,
}

/// One kind's objects once fetched. A slot of its own per kind: checks asking for the
/// same kind wait for one listing, while different kinds are listed side by side.
type KindSlot = Arc<Mutex<Option<Arc<SortedKind>>>>;

/// One kind's objects in `namespace/name` order, as JSON and, once a filter needs jaq
/// (see [`jq_native`]), as jq values. The objects stay as listed (shared with the facts,
/// never copied): `order` says where each one goes.
struct SortedKind {
    keys: Vec<String>,
    objects: ApiObjects,
    /// Indexes into `objects` in key order; `None` when they are listed in order already.
    order: Option<Vec<usize>>,
    jq_values: std::sync::OnceLock<jaq_json::Rc<Vec<jaq_json::Val>>>,
    /// The native lines of every expected filter, from one pass over the objects.
    native_lines: std::sync::OnceLock<HashMap<String, NativeLines>>,
}

type NativeLines = Result<Vec<String>, jq_native::Bail>;

impl SortedKind {
    /// The objects in key order.
    fn in_order(&self) -> Vec<&ApiValue> {
        match &self.order {
            Some(order) => order.iter().map(|&i| &self.objects[i]).collect(),
            None => self.objects.iter().collect(),
        }
    }

    /// The objects as jaq values, converted on first use (most filters never need them).
    fn jq_values(&self) -> jaq_json::Val {
        let values = self
            .jq_values
            .get_or_init(|| jaq_json::Rc::new(self.in_order().into_iter().map(to_jq).collect()));
        jaq_json::Val::Arr(jaq_json::Rc::clone(values))
    }

    /// `filter` run natively over each object; `None` when the native run cannot decide.
    /// When `filter` is one of `expected` (the filters the target's checks ask of this
    /// kind), all of them run in one pass, once, and each check takes its own lines.
    fn native_lines(&self, filter: &str, expected: &[String]) -> Option<Vec<String>> {
        let native = NativeFilter::cached(filter)?;
        if expected.len() > 1 && expected.iter().any(|known| known == filter) {
            let by_filter = self
                .native_lines
                .get_or_init(|| self.run_together(expected));
            if let Some(lines) = by_filter.get(filter) {
                return lines.clone().ok();
            }
        }
        native.lines_for_each(&self.in_order()).ok()
    }

    fn run_together(&self, filters: &[String]) -> HashMap<String, NativeLines> {
        let natives: Vec<(&String, &NativeFilter)> = filters
            .iter()
            .filter_map(|filter| Some((filter, NativeFilter::cached(filter)?)))
            .collect();
        let compiled: Vec<&NativeFilter> = natives.iter().map(|(_, native)| *native).collect();
        let lines = NativeFilter::lines_for_each_of(&compiled, &self.in_order());
        natives
            .into_iter()
            .map(|(filter, _)| filter.clone())
            .zip(lines)
            .collect()
    }
}

impl Drop for ApiCache {
    fn drop(&mut self) {
        let kinds = std::mem::take(self.kinds.get_mut().unwrap_or_else(|e| e.into_inner()));
        let objects: usize = kinds
            .values()
            .filter_map(|slot| locked(slot).as_ref().map(|sorted| sorted.objects.len()))
            .sum();
        crate::sync::drop_aside(objects, kinds);
    }
}

impl std::fmt::Debug for ApiCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kinds = self.slots();
        let mut fetched: Vec<&String> = kinds
            .iter()
            .filter(|(_, slot)| locked(slot).is_some())
            .map(|(kind, _)| kind)
            .collect();
        fetched.sort();
        f.debug_struct("ApiCache").field("kinds", &fetched).finish()
    }
}

impl ApiCache {
    /// The kind's objects, fetched and converted once. The kind's slot stays locked while
    /// fetching, so checks running in parallel never list the same kind twice; a failed
    /// listing is not kept, the next check asks again.
    fn kind(&self, facts: &dyn Facts, kind: &str) -> Result<Arc<SortedKind>, ProbeError> {
        let slot = Arc::clone(self.slots().entry(kind.to_owned()).or_default());
        let mut slot = locked(&slot);
        if let Some(known) = slot.as_ref() {
            return Ok(Arc::clone(known));
        }
        let objects = facts.api_objects(kind)?;
        let (keys, order) = sorted_keys(&objects);
        let sorted = Arc::new(SortedKind {
            keys,
            objects,
            order,
            jq_values: Default::default(),
            native_lines: Default::default(),
        });
        *slot = Some(Arc::clone(&sorted));
        Ok(sorted)
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, KindSlot>> {
        locked(&self.kinds)
    }

    /// Says which filters the running target's checks will ask of `kind` (`api_objects`
    /// with a `jq`), so they can run in one pass over its objects.
    pub fn expect_filters(&self, kind: &str, filters: Vec<String>) {
        locked(&self.expected).insert(kind.to_owned(), filters.into());
    }

    /// Runs the filters expected of `kind` over its objects now, in one pass split among
    /// the cores, when more than one is expected. Called outside the pool, as soon as the
    /// target starts (the pass then begins when the list is read) and again before a
    /// group's checks start (which waits for it): otherwise one check runs the pass while
    /// the others wait for it, each waiting check holding a worker the pass could have
    /// used (section 5's pod checks ran on one core of two). A listing that fails is left
    /// for the checks to report.
    pub fn run_expected(&self, facts: &dyn Facts, kind: &str) {
        let expected = self.expected(kind);
        if expected.len() < 2 {
            return;
        }
        if let Ok(sorted) = self.kind(facts, kind) {
            sorted
                .native_lines
                .get_or_init(|| sorted.run_together(&expected));
        }
    }

    fn expected(&self, kind: &str) -> Arc<[String]> {
        locked(&self.expected)
            .get(kind)
            .cloned()
            .unwrap_or_else(|| Arc::new([]))
    }
}

/// The objects' keys in `namespace/name` order (stable), and the order of the objects
/// when they are not listed in it (the API server lists them in order already). The
/// objects themselves are never copied: a cluster's pods are megabytes.
fn sorted_keys(objects: &[ApiValue]) -> (Vec<String>, Option<Vec<usize>>) {
    let mut keyed: Vec<(String, usize)> = objects.iter().map(object_key).zip(0..).collect();
    if keyed.is_sorted() {
        return (keyed.into_iter().map(|(key, _)| key).collect(), None);
    }
    keyed.sort_unstable();
    let (keys, order) = keyed.into_iter().unzip();
    (keys, Some(order))
}

/// Runs a probe and returns its output text.
pub fn answer(probe: &Probe, facts: &dyn Facts, api: &ApiCache) -> Result<String, ProbeError> {
    match probe {
        Probe::FileMode {
            path,
            glob,
            recursive,
        } => file_lines(facts, path, glob.as_deref(), *recursive, |stat, out| {
            stat.write_permissions(out)
        }),
        Probe::FileOwner {
            path,
            glob,
            recursive,
        } => file_lines(facts, path, glob.as_deref(), *recursive, |stat, out| {
            stat.write_owner(out)
        }),
        Probe::FileContent { path } => Ok(facts.read_file(path)?.unwrap_or_default()),
        Probe::Process { bin } => process_lines(facts, bin),
        Probe::KubeletConfig { bin, config } => {
            kubelet::effective_config(facts, bin.as_deref(), config.as_deref())
                .map_err(ProbeError::Invalid)
        }
        Probe::ApiObjects { kind, jq } => {
            api_object_lines(api.kind(facts, kind)?, jq.as_deref(), &api.expected(kind))
        }
        Probe::ApiQuery { kinds, jq } => api_query_lines(facts, api, kinds, jq),
        Probe::K3sArgs { component, config } => {
            k3s::command_line(facts, component, config.as_deref())
        }
        Probe::StaticPodFile {
            manifest,
            path,
            show,
        } => super::static_pod::answer(facts, manifest, path, *show),
    }
}

fn file_lines(
    facts: &dyn Facts,
    path: &str,
    glob: Option<&str>,
    recursive: bool,
    render: impl Fn(&crate::facts::FileStat, &mut String),
) -> Result<String, ProbeError> {
    let tree;
    let paths: Vec<&str> = if glob.is_some() || recursive {
        let matcher = glob.map(compile_glob).transpose()?;
        tree = facts.list_tree(path)?;
        tree.iter()
            .map(String::as_str)
            .filter(|p| matcher.as_ref().is_none_or(|m| m.is_match(file_name(p))))
            .collect()
    } else {
        vec![path]
    };
    let mut lines = String::new();
    for p in paths {
        if let Some(stat) = facts.stat(p)? {
            if !lines.is_empty() {
                lines.push('\n');
            }
            render(&stat, &mut lines);
        }
    }
    Ok(lines)
}

/// A compiled glob, shared by every node that asks for it: compiling it and warming its
/// regex's search cache cost more than the match itself.
fn compile_glob(pattern: &str) -> Result<Arc<NameGlob>, ProbeError> {
    type Compiled = Result<Arc<NameGlob>, ProbeError>;
    static CACHE: std::sync::OnceLock<Mutex<HashMap<String, Compiled>>> =
        std::sync::OnceLock::new();
    let mut cache = locked(CACHE.get_or_init(Default::default));
    if let Some(known) = cache.get(pattern) {
        return known.clone();
    }
    cache
        .entry(pattern.to_owned())
        .or_insert_with(|| {
            NameGlob::new(pattern)
                .map(Arc::new)
                .map_err(|e| ProbeError::Invalid(format!("glob `{pattern}`: {e}")))
        })
        .clone()
}

fn file_name(path: &str) -> &str {
    // memrchr: `rsplit('/')`'s reverse character searcher was 2% of a fleet scan.
    memchr::memrchr(b'/', path.as_bytes()).map_or(path, |at| &path[at + 1..])
}

fn process_lines(facts: &dyn Facts, bin: &str) -> Result<String, ProbeError> {
    Ok(facts
        .processes()?
        .iter()
        .filter(|p| runs_binary(p, bin))
        .map(|p| joined_flag_values(&p.argv))
        .collect::<Vec<_>>()
        .join("\n"))
}

fn api_object_lines(
    objects: Arc<SortedKind>,
    jq: Option<&str>,
    expected: &[String],
) -> Result<String, ProbeError> {
    let lines = match jq {
        None => objects.keys.clone(),
        // jaq compiles every filter the native run supports (jq_native's `Scope`), so
        // a filter it answers has no load-time error to report, and jaq (compiling jq's
        // library per filter) is needed only where it could not decide
        Some(filter) => match objects.native_lines(filter, expected) {
            Some(lines) => lines,
            None => JqProgram::cached_for_each(filter)?.run_on(objects.jq_values())?,
        },
    };
    Ok(lines.join("\n"))
}

fn api_query_lines(
    facts: &dyn Facts,
    api: &ApiCache,
    kinds: &[String],
    jq: &str,
) -> Result<String, ProbeError> {
    let listed = kinds
        .iter()
        .map(|kind| Ok((kind.as_str(), api.kind(facts, kind)?)))
        .collect::<Result<Vec<_>, ProbeError>>()?;
    if let Some(native) = NativeFilter::cached(jq) {
        let ordered: Vec<Vec<&ApiValue>> =
            listed.iter().map(|(_, sorted)| sorted.in_order()).collect();
        let input: Vec<(&str, &[&ApiValue])> = listed
            .iter()
            .zip(&ordered)
            .map(|((kind, _), objects)| (*kind, objects.as_slice()))
            .collect();
        if let Ok(lines) = native.lines_for_kinds(&input) {
            return Ok(lines.join("\n"));
        }
    }
    let mut input = jaq_json::Map::default();
    for (kind, objects) in &listed {
        input.insert(jaq_json::Val::from(kind.to_string()), objects.jq_values());
    }
    Ok(JqProgram::cached(jq)?
        .run_on(jaq_json::Val::obj(input))?
        .join("\n"))
}

/// A JSON value as jq sees it: the value jq would read from its JSON text, built
/// directly (printing and re-parsing every object cost more than the checks themselves).
fn to_jq(value: &ApiValue) -> jaq_json::Val {
    use jaq_json::Val;
    match value {
        ApiValue::Null => Val::Null,
        ApiValue::Bool(b) => Val::Bool(*b),
        ApiValue::Number(n) => Val::Num(jq_number(n)),
        ApiValue::String(s) => Val::utf8_str(s.as_bytes().to_vec()),
        ApiValue::Array(items) => Val::Arr(jaq_json::Rc::new(items.iter().map(to_jq).collect())),
        ApiValue::Object(fields) => Val::obj(
            fields
                .iter()
                .map(|(key, value)| (Val::utf8_str(key.as_bytes().to_vec()), to_jq(value)))
                .collect(),
        ),
    }
}

/// What jq reads from the number's JSON text: an integer, or the decimal text itself.
fn jq_number(number: &serde_json::Number) -> jaq_json::Num {
    use jaq_json::Num;
    if let Some(i) = number.as_i64() {
        Num::from_integral(i)
    } else if let Some(u) = number.as_u64() {
        Num::from_integral(u)
    } else {
        Num::Dec(jaq_json::Rc::new(number.to_string()))
    }
}

/// The command line with `--flag value` written as `--flag=value`, the way the component's
/// flag parser reads it: kube-bench's flag lookup never reads a space-separated value
/// (it would see `--secure-port 0` as `true`).
fn joined_flag_values(argv: &[String]) -> String {
    let mut line = String::with_capacity(argv.iter().map(|arg| arg.len() + 1).sum());
    let mut args = argv.iter().peekable();
    if let Some(program) = args.next() {
        line.push_str(program);
    }
    while let Some(arg) = args.next() {
        line.push(' ');
        line.push_str(arg);
        let is_bare_flag = arg.starts_with("--") && arg.len() > 2 && !arg.contains('=');
        if let Some(value) = args.next_if(|value| is_bare_flag && !value.starts_with('-')) {
            line.push('=');
            line.push_str(value);
        }
    }
    line
}

/// `namespace/name`, or `name` for a cluster-scoped object.
fn object_key(object: &ApiValue) -> String {
    let metadata = object.get("metadata");
    let field = |key| metadata.and_then(|m| m.get(key)).and_then(ApiValue::as_str);
    let name = field("name").unwrap_or("");
    match field("namespace") {
        Some(namespace) if !namespace.is_empty() => format!("{namespace}/{name}"),
        _ => name.to_owned(),
    }
}

/// Why a filter is refused: it names something outside the filter.
fn forbidden_message(shown: &str, name: &str) -> String {
    format!(
        "jq filter `{shown}` uses `{name}`, which benchmark files may not use ({})",
        jq_bounds::FORBIDDEN[..10].join(", ")
    )
}

/// Checks a benchmark's jq filter at load: it parses, compiles and uses nothing forbidden.
pub fn validate_jq(filter: &str) -> Result<(), String> {
    JqProgram::compile(filter, filter)
        .map(|_| ())
        .map_err(|error| error.to_string())
}

/// A compiled jq filter (the jaq implementation), run in-process, within the bounds of
/// [`jq_bounds`].
struct JqProgram {
    filter: jaq_core::compile::Filter<jaq_core::Native<jq_bounds::Data>>,
}

impl JqProgram {
    /// The compiled filter, compiled once: a fleet scan asks the same filters of every
    /// node, and compiling loads jq's standard library each time.
    fn cached(code: &str) -> Result<Arc<Self>, ProbeError> {
        Self::cached_as(code.to_owned(), code)
    }

    /// `filter` applied to each element of the input array, in one run: starting jq once
    /// per object costs more than a simple filter itself (4,500 pods, a dozen checks).
    /// The outputs, their order and the first error are those of one run per object.
    fn cached_for_each(filter: &str) -> Result<Arc<Self>, ProbeError> {
        // The newline ends a trailing `# comment` of the filter before the parenthesis.
        Self::cached_as(format!(".[] | (\n{filter}\n)"), filter)
    }

    /// `code` compiled once per process and shared by the threads running checks;
    /// errors name `shown`, the filter as written.
    fn cached_as(code: String, shown: &str) -> Result<Arc<Self>, ProbeError> {
        static PROGRAMS: std::sync::OnceLock<Mutex<HashMap<String, Arc<JqProgram>>>> =
            std::sync::OnceLock::new();
        let programs = PROGRAMS.get_or_init(Default::default);
        if let Some(program) = locked(programs).get(&code) {
            return Ok(Arc::clone(program));
        }
        // compiled outside the lock: two threads may compile the same filter once each
        let program = Arc::new(Self::compile(&code, shown)?);
        Ok(Arc::clone(locked(programs).entry(code).or_insert(program)))
    }

    fn compile(code: &str, shown: &str) -> Result<Self, ProbeError> {
        use jaq_core::load::{Arena, File, Loader};
        if let Some(name) = jq_bounds::forbidden_name(code) {
            return Err(ProbeError::Invalid(forbidden_message(shown, name)));
        }
        let defs = jq_bounds::program_defs(code).map_err(|errors| {
            ProbeError::Invalid(format!("jq filter `{shown}` does not parse: {errors}"))
        })?;
        let loader = Loader::new(defs);
        let arena = Arena::default();
        let modules = loader
            .load(
                &arena,
                File {
                    code: jq_bounds::MAIN,
                    path: (),
                },
            )
            .map_err(|errors| {
                ProbeError::Invalid(format!("jq filter `{shown}` does not parse: {errors:?}"))
            })?;
        let filter = jaq_core::Compiler::default()
            .with_funs(jq_bounds::library_funs())
            .compile(modules)
            .map_err(|errors| {
                ProbeError::Invalid(format!("jq filter `{shown}` does not compile: {errors:?}"))
            })?;
        Ok(JqProgram { filter })
    }

    /// Each output as one line: strings raw (`jq -r`), other values as compact JSON.
    #[cfg(test)]
    fn run(&self, input: &serde_json::Value) -> Result<Vec<String>, ProbeError> {
        self.run_on(to_jq(&ApiValue::from(input)))
    }

    fn run_on(&self, input: jaq_json::Val) -> Result<Vec<String>, ProbeError> {
        use jaq_core::{Ctx, Vars};
        let ctx =
            Ctx::<jaq_core::data::JustLut<jaq_json::Val>>::new(&self.filter.lut, Vars::new([]));
        let _budget = jq_bounds::start_run()
            .map_err(|message| ProbeError::Invalid(format!("jq: {message}")))?;
        let mut lines = Vec::new();
        let mut bytes = 0;
        for output in self.filter.id.run((ctx, input)).map(jaq_core::unwrap_valr) {
            let value = output.map_err(|e| ProbeError::Invalid(format!("jq: {e}")))?;
            let line = match value {
                jaq_json::Val::TStr(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                other => {
                    jq_bounds::check_value_size(&other)
                        .map_err(|message| ProbeError::Invalid(format!("jq: {message}")))?;
                    other.to_string()
                }
            };
            bytes += line.len() + 1;
            if lines.len() >= jq_bounds::MAX_OUTPUTS || bytes > jq_bounds::MAX_OUTPUT_BYTES {
                return Err(ProbeError::Invalid(format!(
                    "jq: the filter printed more than {} values or {} MiB and was stopped",
                    jq_bounds::MAX_OUTPUTS,
                    jq_bounds::MAX_OUTPUT_BYTES >> 20
                )));
            }
            jq_bounds::check_budget()
                .map_err(|message| ProbeError::Invalid(format!("jq: {message}")))?;
            lines.push(line);
        }
        Ok(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    /// Every jq filter of the embedded benchmarks, and filters near the native subset's
    /// edges.
    fn filters_to_compile() -> Vec<String> {
        use crate::definitions::load::benchmark_controls;
        use crate::definitions::tree::BenchmarkTree;
        let tree = BenchmarkTree::Embedded;
        let mut filters: Vec<String> = [
            ".a as $x | $x",
            "$x",
            "if false then $nope else 1 end",
            ". as $x | def f: $x; f",
            "def f($a): $a; f(1)",
            "def f($a): 1; $a",
            "reduce .[] as $i (null; .[$i] = 1)",
            "reduce .[] as $i ($i; .[$i] = 1)",
            "reduce .[] as $i (null; .[$i] += $j)",
            "$__loc__",
            "$ENV.HOME",
            "[.[] | select(.x == $__cisgate_budget)]",
            "(.a as $x | 1), $x",
        ]
        .map(String::from)
        .to_vec();
        for benchmark in tree.benchmark_names() {
            for (_, controls) in benchmark_controls(&tree, &benchmark).unwrap() {
                for check in controls.groups.iter().flat_map(|group| &group.checks) {
                    for audit in check.audits() {
                        if let crate::definitions::model::Audit::Probe(
                            Probe::ApiObjects { jq: Some(jq), .. } | Probe::ApiQuery { jq, .. },
                        ) = audit
                        {
                            filters.push(jq.clone());
                        }
                    }
                }
            }
        }
        filters
    }

    #[test]
    fn every_filter_the_native_run_supports_compiles_in_jaq() {
        let filters = filters_to_compile();
        let native = filters
            .iter()
            .filter(|filter| NativeFilter::cached(filter).is_some())
            .inspect(|filter| {
                assert_eq!(validate_jq(filter), Ok(()), "{filter}");
                assert!(JqProgram::cached_for_each(filter).is_ok(), "{filter}");
            })
            .count();
        assert!(native > 20, "only {native} of {} filters", filters.len());
        for unbound in [
            "$x",
            "if false then $nope else 1 end",
            "def f($a): 1; $a",
            "reduce .[] as $i ($i; .[$i] = 1)",
            "$__loc__",
            "(.a as $x | 1), $x",
        ] {
            assert!(NativeFilter::cached(unbound).is_none(), "{unbound}");
        }
    }

    #[test]
    fn space_separated_flag_values_are_joined_to_their_flag() {
        assert_eq!(
            joined_flag_values(&argv(&[
                "kube-apiserver",
                "--secure-port",
                "0",
                "--profiling",
                "--x=1"
            ])),
            "kube-apiserver --secure-port=0 --profiling --x=1"
        );
    }

    #[test]
    fn flag_values_are_joined_as_words_joined_by_spaces() {
        let by_words = |argv: &[String]| {
            let mut words: Vec<String> = argv.iter().take(1).cloned().collect();
            let mut args = argv.iter().skip(1).peekable();
            while let Some(arg) = args.next() {
                let bare = arg.starts_with("--") && arg.len() > 2 && !arg.contains('=');
                match args.peek() {
                    Some(value) if bare && !value.starts_with('-') => {
                        words.push(format!("{arg}={value}"));
                        args.next();
                    }
                    _ => words.push(arg.clone()),
                }
            }
            words.join(" ")
        };
        for words in [
            &[][..],
            &["kubelet"],
            &["kubelet", "--"],
            &["kubelet", "--", "x"],
            &["kubelet", "--a"],
            &[
                "kubelet", "--a", "", "--b", "-c", "--d=1", "e", "--f", "g h",
            ],
            &["", "--a", "--b", "--c"],
        ] {
            let argv = argv(words);
            assert_eq!(joined_flag_values(&argv), by_words(&argv), "{words:?}");
        }
    }

    #[test]
    fn a_flag_followed_by_a_flag_stays_bare() {
        assert_eq!(
            joined_flag_values(&argv(&["etcd", "--a", "--b", "v"])),
            "etcd --a --b=v"
        );
    }

    #[test]
    fn objects_listed_out_of_order_are_answered_in_namespace_and_name_order() {
        use crate::facts::snapshot::{ApiKindRecord, Snapshot, SnapshotFacts, SnapshotNode};
        let pods = [
            serde_json::json!({"metadata": {"name": "b", "namespace": "y"}}),
            serde_json::json!({"metadata": {"name": "a", "namespace": "z"}}),
            serde_json::json!({"metadata": {"name": "c", "namespace": "x"}}),
        ];
        let mut snapshot = Snapshot::new(SnapshotNode::default());
        snapshot.api.kinds.insert(
            "pods".into(),
            ApiKindRecord {
                items: Arc::new(pods.iter().map(ApiValue::from).collect()),
                error: None,
            },
        );
        let facts = SnapshotFacts::new("pods.json".into(), snapshot);
        let api = ApiCache::default();
        let objects = |jq: Option<&str>| Probe::ApiObjects {
            kind: "pods".into(),
            jq: jq.map(str::to_owned),
        };
        let query = |jq: &str| Probe::ApiQuery {
            kinds: vec!["pods".into()],
            jq: jq.into(),
        };
        // natively, through jaq (`tojson` is not in the native subset), and without jq
        for (probe, expected) in [
            (objects(None), "x/c\ny/b\nz/a"),
            (objects(Some(".metadata.name")), "c\nb\na"),
            (
                objects(Some(".metadata.name | tojson")),
                "\"c\"\n\"b\"\n\"a\"",
            ),
            (query(".pods[] | .metadata.name"), "c\nb\na"),
            (
                query("[.pods[].metadata.name] | tojson"),
                r#"["c","b","a"]"#,
            ),
        ] {
            assert_eq!(answer(&probe, &facts, &api).unwrap(), expected, "{probe:?}");
        }
    }

    #[test]
    fn object_keys_are_namespace_and_name() {
        let pod = serde_json::json!({"metadata": {"name": "p", "namespace": "ns"}});
        let node = serde_json::json!({"metadata": {"name": "n"}});
        assert_eq!(object_key(&ApiValue::from(pod)), "ns/p");
        assert_eq!(object_key(&ApiValue::from(node)), "n");
    }

    #[test]
    fn jq_prints_strings_raw_and_other_values_as_json() {
        let program = JqProgram::cached(r#".metadata.name, .spec, empty"#).unwrap();
        let object = serde_json::json!({"metadata": {"name": "a"}, "spec": {"x": [1, 2]}});
        assert_eq!(
            program.run(&object).unwrap(),
            vec!["a".to_owned(), r#"{"x":[1,2]}"#.to_owned()]
        );
    }

    #[test]
    fn objects_reach_jq_as_jq_would_read_their_json_text() {
        let object = serde_json::json!({
            "metadata": {"name": "p\u{e9}\n\"q\"", "namespace": null, "labels": {}},
            "numbers": [0, -7, 65535, i64::MIN, u64::MAX, 1.5, -0.0, 1e300, 2.0],
            "flags": [true, false],
            "nested": [[], {"b": {"c": [1, {"d": "e"}]}, "a": null}]
        });
        let text = serde_json::to_vec(&object).unwrap();
        let parsed = jaq_json::read::parse_single(&text).unwrap();
        let direct = to_jq(&ApiValue::from(&object));
        assert_eq!(format!("{direct:?}"), format!("{parsed:?}"));
        assert_eq!(direct.to_string(), parsed.to_string());
    }

    #[test]
    fn one_run_over_all_objects_prints_what_one_run_per_object_prints() {
        let filter = "def shown: \"\\(.n)!\"; select(.n > 1) | shown, .n # a comment";
        let objects = [1, 2, 3].map(|n| serde_json::json!({ "n": n }));
        let per_object: Vec<String> = objects
            .iter()
            .flat_map(|o| JqProgram::cached(filter).unwrap().run(o).unwrap())
            .collect();
        let all = JqProgram::cached_for_each(filter)
            .unwrap()
            .run(&Value::Array(objects.to_vec()))
            .unwrap();
        assert_eq!(all, per_object);
        assert_eq!(all, ["2!", "2", "3!", "3"]);
    }

    #[test]
    fn a_filter_run_over_each_object_is_named_as_written_in_its_error() {
        let error = JqProgram::cached_for_each("select(").err().unwrap();
        assert!(
            error
                .to_string()
                .starts_with("jq filter `select(` does not parse"),
            "{error}"
        );
    }

    fn run_error(filter: &str) -> String {
        let input = serde_json::json!({"a": "x".repeat(1000)});
        match JqProgram::compile(filter, filter) {
            Err(error) => error.to_string(),
            Ok(program) => program.run(&input).unwrap_err().to_string(),
        }
    }

    #[test]
    fn jq_that_reaches_outside_the_filter_is_refused() {
        for (filter, name) in [
            ("halt", "halt"),
            ("halt_error", "halt_error"),
            ("env", "env"),
            ("$ENV", "$ENV"),
            ("[inputs]", "inputs"),
            ("debug", "debug"),
            ("stderr", "stderr"),
            ("$__loc__", "$__loc__"),
        ] {
            let error = run_error(filter);
            assert!(
                error.contains(&format!("uses `{name}`")),
                "{filter}: {error}"
            );
        }
    }

    #[test]
    fn endless_deep_and_huge_jq_is_stopped_with_an_error() {
        jq_bounds::set_time_limit_for_tests(std::time::Duration::from_secs(2));
        // on a thread with 2 MiB of stack, like the rayon workers that run checks: the
        // recursion bound stops `def f: [f]; f` well before the stack overflows
        let errors = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                jq_bounds::set_time_limit_for_tests(std::time::Duration::from_secs(2));
                [
                    "def f: f; f",
                    "def f: [f]; f",
                    "repeat(.)",
                    "[range(1e9)]",
                    "[range(1e9) | tostring]",
                    "last(range(1e12))",
                    "[limit(1e9; repeat(1))] | length",
                    "reduce range(1e12) as $x (0; . + 1)",
                ]
                .map(|filter| (filter, run_error(filter)))
            })
            .unwrap()
            .join()
            .unwrap();
        for (filter, error) in errors {
            assert!(
                error.contains("recursed too deeply")
                    || error.contains("ran longer than 2 s")
                    || error.contains("MiB of memory")
                    || error.contains("printed more than"),
                "{filter}: {error}"
            );
        }
    }

    #[test]
    fn a_filter_that_collects_without_end_is_stopped_by_memory() {
        jq_bounds::set_time_limit_for_tests(std::time::Duration::from_secs(300));
        let started = std::time::Instant::now();
        let error = run_error("[range(1e10)] | length");
        assert!(error.contains("128 MiB of memory"), "{error}");
        assert!(started.elapsed() < std::time::Duration::from_secs(120));
    }

    #[test]
    fn path_expressions_still_work_through_the_budget_checks() {
        let program = JqProgram::compile(
            "del(.items[] | select(.x > 1)) | (.items[].x |= . + 1) | [paths] | length",
            "",
        )
        .unwrap();
        let input = serde_json::json!({"items": [{"x": 1}, {"x": 2}]});
        assert_eq!(program.run(&input).unwrap(), vec!["3".to_owned()]);
    }

    /// Every `jq` of the embedded policies files with the kinds it reads.
    fn embedded_filters() -> Vec<(String, Option<String>, Vec<String>)> {
        let mut filters = Vec::new();
        for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/cfg")).unwrap() {
            let file = entry.unwrap().path().join("policies.yaml");
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            let yaml: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
            for group in yaml["groups"].as_array().unwrap() {
                for check in group["checks"].as_array().into_iter().flatten() {
                    let audit = &check["audit"];
                    let Some(jq) = audit["jq"].as_str() else {
                        continue;
                    };
                    let name = format!("{} {}", file.display(), check["id"].as_str().unwrap());
                    match audit["probe"].as_str() {
                        Some("api_objects") => filters.push((
                            name,
                            Some(audit["kind"].as_str().unwrap().to_owned()),
                            vec![jq.to_owned()],
                        )),
                        _ => filters.push((
                            name,
                            None,
                            std::iter::once(jq.to_owned())
                                .chain(
                                    audit["kinds"]
                                        .as_array()
                                        .unwrap()
                                        .iter()
                                        .map(|k| k.as_str().unwrap().to_owned()),
                                )
                                .collect(),
                        )),
                    }
                }
            }
        }
        filters
    }

    /// The recorded fixtures' objects of each kind, and variants with fields of the wrong
    /// type or shape (which jq answers with errors or its own comparisons).
    fn fixture_objects(kind: &str) -> Vec<Vec<Value>> {
        let mut sets = Vec::new();
        for cluster in ["good", "bad"] {
            let path = format!(
                "{}/tests/fixtures/cis-1.12/api/{cluster}/{kind}.json",
                env!("CARGO_MANIFEST_DIR")
            );
            let Ok(text) = std::fs::read_to_string(path) else {
                return Vec::new(); // a kind cis-1.12 does not read
            };
            let list: Value = serde_json::from_str(&text).unwrap();
            let mut items = list["items"].as_array().unwrap().clone();
            items.sort_by_cached_key(|item| object_key(&ApiValue::from(item)));
            sets.push(items);
        }
        let odd = [
            serde_json::json!({"metadata": {"name": "a", "namespace": "n"}, "spec": "x"}),
            serde_json::json!({"metadata": {"name": "b", "namespace": 7}, "spec": {"containers": null, "hostPID": 1}}),
            serde_json::json!({"metadata": {"name": "c", "namespace": "n"}, "spec": {"containers": [{"name": "x", "ports": [{"hostPort": 80.5}], "securityContext": {"runAsUser": 1.5, "capabilities": {"add": ["NET_RAW", 3], "drop": "ALL"}}}]}}),
            serde_json::json!({"metadata": {"name": "d", "namespace": "n", "labels": []}, "subjects": {"a": {"kind": "Group", "name": "system:authenticated"}}, "rules": [{"verbs": ["*"]}], "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"}, "automountServiceAccountToken": "yes"}),
            serde_json::json!([1, 2]),
            serde_json::json!(null),
            serde_json::json!({"metadata": {"name": "e", "namespace": "n"}, "spec": {"initContainers": [{"name": "i", "env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": 5}}}], "securityContext": {"privileged": true, "allowPrivilegeEscalation": "true", "runAsNonRoot": false, "runAsUser": -3}}], "volumes": [{"name": "v", "hostPath": {"path": ["/"]}}]}}),
        ];
        for value in odd {
            let mut items = sets[1].clone();
            items.insert(items.len() / 2, value);
            sets.push(items);
        }
        sets
    }

    fn jaq_lines(program: &JqProgram, input: jaq_json::Val) -> Result<Vec<String>, String> {
        program.run_on(input).map_err(|e| e.to_string())
    }

    #[test]
    fn the_native_run_of_every_embedded_filter_prints_what_jaq_prints() {
        let mut native_runs = 0;
        let mut jaq_only = Vec::new();
        for (name, kind, filter) in embedded_filters() {
            match kind {
                Some(kind) => {
                    let program = JqProgram::cached_for_each(&filter[0]).unwrap();
                    for (variant, objects) in fixture_objects(&kind).into_iter().enumerate() {
                        let jaq = jaq_lines(
                            &program,
                            to_jq(&ApiValue::from(Value::Array(objects.clone()))),
                        );
                        let objects: Vec<ApiValue> = objects.iter().map(ApiValue::from).collect();
                        let refs: Vec<&ApiValue> = objects.iter().collect();
                        let native =
                            NativeFilter::cached(&filter[0]).map(|n| n.lines_for_each(&refs));
                        if let Some(Ok(lines)) = native {
                            native_runs += 1;
                            assert_eq!(Ok(lines), jaq, "{name}");
                        } else {
                            jaq_only.push(format!("{name} (set {variant})"));
                        }
                    }
                }
                None => {
                    let program = JqProgram::cached(&filter[0]).unwrap();
                    let kinds = &filter[1..];
                    let sets: Vec<Vec<Vec<Value>>> =
                        kinds.iter().map(|kind| fixture_objects(kind)).collect();
                    let variants = sets.iter().map(Vec::len).min().unwrap_or(0);
                    for variant in 0..variants {
                        let input: Vec<(&str, &[Value])> = kinds
                            .iter()
                            .zip(&sets)
                            .map(|(kind, sets)| (kind.as_str(), sets[variant].as_slice()))
                            .collect();
                        let object: serde_json::Map<String, Value> = input
                            .iter()
                            .map(|(k, v)| (k.to_string(), Value::Array(v.to_vec())))
                            .collect();
                        let jaq =
                            jaq_lines(&program, to_jq(&ApiValue::from(Value::Object(object))));
                        let api: Vec<Vec<ApiValue>> = input
                            .iter()
                            .map(|(_, v)| v.iter().map(ApiValue::from).collect())
                            .collect();
                        let refs: Vec<Vec<&ApiValue>> =
                            api.iter().map(|v| v.iter().collect()).collect();
                        let listed: Vec<(&str, &[&ApiValue])> = input
                            .iter()
                            .zip(&refs)
                            .map(|((kind, _), refs)| (*kind, refs.as_slice()))
                            .collect();
                        let native =
                            NativeFilter::cached(&filter[0]).map(|n| n.lines_for_kinds(&listed));
                        if let Some(Ok(lines)) = native {
                            native_runs += 1;
                            assert_eq!(Ok(lines), jaq, "{name}");
                        } else {
                            jaq_only.push(format!("{name} (set {variant})"));
                        }
                    }
                }
            }
        }
        assert!(native_runs > 100, "{native_runs}");
        // the embedded cis-1.12 filters all run natively over the recorded clusters
        // (sets 0 and 1): section 5 never converts objects for jaq
        let cis_jaq_only: Vec<&String> = jaq_only
            .iter()
            .filter(|run| {
                run.contains("cis-1.12/") && (run.ends_with("(set 0)") || run.ends_with("(set 1)"))
            })
            .collect();
        assert!(cis_jaq_only.is_empty(), "{cis_jaq_only:#?}");
    }

    #[test]
    fn a_jq_filter_that_does_not_parse_is_an_error() {
        assert!(JqProgram::cached(".[").is_err());
    }
}
