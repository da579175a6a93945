//! A native evaluator for the common subset of jq that API-object checks are written in
//! (paths, `select`, `and`/`or`/`not`, comparisons of scalars, `//`, `+`, `as $x`,
//! string interpolation, `[...]`, `if`, `any`, `length`, `join`, `reduce` into an object),
//! run directly over the parsed JSON objects.
//!
//! It never decides what jq would decide differently: whatever it is not sure of — a
//! construct outside the subset, a value whose behaviour it does not model (a float, a
//! comparison of arrays, a value printed as JSON, an error jq would raise) — ends the
//! native run with [`Bail`], and the caller runs the same filter through jaq over the same
//! objects. Only a run that finishes natively is used, so outputs, their order and errors
//! are always jq's. A run that would print more than jq's output bounds bails too, so the
//! bounds' errors come from jaq's run ([`super::jq_bounds`]).
//!
//! Why: section 5 asks a dozen questions of every pod; jaq's interpreter, its values and
//! converting the objects into them took most of a policies scan (docs/performance.md).

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Mutex, OnceLock};

use crate::facts::api_value::ApiValue;
use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Def, Parser, Pattern, Term};
use jaq_core::ops::{Cmp, Math};
use jaq_core::path::{Opt, Part};

use super::jq_bounds::{self, MAX_OUTPUTS, MAX_OUTPUT_BYTES, MAX_VALUE_BYTES};
use crate::sync::locked;

/// How many steps one native run may take before it leaves the filter to jaq, whose time
/// and memory bounds then apply (`.[] as $a | .[] as $b | .[] | empty` over a large list).
const MAX_STEPS: u64 = if cfg!(test) { 1 << 20 } else { 1 << 27 };
/// The largest array a native run builds before it leaves the filter to jaq.
const MAX_ARRAY: usize = 1 << 20;

thread_local! {
    static STEPS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// One step of the run; past [`MAX_STEPS`] the run bails.
fn step() -> Flow {
    STEPS.with(|steps| {
        let taken = steps.get() + 1;
        steps.set(taken);
        if taken > MAX_STEPS {
            Err(Bail)
        } else {
            Ok(())
        }
    })
}

/// The native run cannot decide: run the filter through jaq instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bail;

type Flow = Result<(), Bail>;

/// A filter parsed once and kept for the process: definitions have a bounded number of
/// filters, and a fleet scan asks the same ones of every node. `None` when the filter
/// uses something outside the subset (checked before any run).
pub struct NativeFilter {
    term: &'static Term<&'static str>,
}

impl NativeFilter {
    /// The filter, when every construct in it is one the native evaluator runs.
    pub fn cached(filter: &str) -> Option<&'static NativeFilter> {
        type Cache = Mutex<HashMap<String, Option<&'static NativeFilter>>>;
        static CACHE: OnceLock<Cache> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        if let Some(known) = locked(cache).get(filter) {
            return *known;
        }
        let parsed = Self::parse(filter);
        *locked(cache).entry(filter.to_owned()).or_insert(parsed)
    }

    fn parse(filter: &str) -> Option<&'static NativeFilter> {
        // Leaked once per distinct filter (the cache above never forgets one): the parsed
        // term borrows the text, and both live as long as the process's definitions.
        let text: &'static str = Box::leak(filter.to_owned().into_boxed_str());
        let tokens = jaq_core::load::Lexer::new(text).lex().ok()?;
        let tokens: &'static [_] = Box::leak(tokens.into_boxed_slice());
        // refused by jaq's run at compile time (forbidden names, the bounds' reserved ones)
        if jq_bounds::forbidden_name(filter).is_some() || jq_bounds::reserved_name(tokens).is_some()
        {
            return None;
        }
        let term = Parser::new(tokens).parse(|p| p.term()).ok()?;
        if !supported(&term) {
            return None;
        }
        let term: &'static Term<&'static str> = Box::leak(Box::new(term));
        Some(Box::leak(Box::new(NativeFilter { term })))
    }

    /// The filter over each object in turn, one line per output (strings raw, other
    /// scalars as JSON text), as `.[] | (filter)` over the list prints them.
    pub fn lines_for_each(&self, objects: &[&ApiValue]) -> Result<Vec<String>, Bail> {
        STEPS.with(|steps| steps.set(0));
        let mut lines = Lines::default();
        for &object in objects {
            run(self.term, &Val::Json(object), None, &mut |v| lines.push(v))?;
        }
        Ok(lines.lines)
    }

    /// Each of `filters` over each object in turn: what [`lines_for_each`] gives for each
    /// filter on its own, in one pass over the objects, split among the cores. A dozen pod
    /// checks then read each pod while it is in the cache, instead of each walking all
    /// pods (their field lookups were mostly cache misses). Steps and output bounds count
    /// over the whole list, as in a run of one filter.
    ///
    /// [`lines_for_each`]: Self::lines_for_each
    pub fn lines_for_each_of(
        filters: &[&NativeFilter],
        objects: &[&ApiValue],
    ) -> Vec<Result<Vec<String>, Bail>> {
        use rayon::prelude::*;
        let chunk = objects
            .len()
            .div_ceil(4 * rayon::current_num_threads())
            .max(64);
        let chunks: Vec<Vec<ChunkRun>> = if rayon::current_thread_index().is_some() {
            objects
                .par_chunks(chunk)
                .map(|objects| run_chunk(filters, objects))
                .collect()
        } else {
            chunks_on_own_threads(filters, objects, chunk)
        };
        let mut by_filter: Vec<Vec<ChunkRun>> = filters.iter().map(|_| Vec::new()).collect();
        for runs in chunks {
            for (filter, chunk_run) in by_filter.iter_mut().zip(runs) {
                filter.push(chunk_run);
            }
        }
        by_filter.into_iter().map(merged).collect()
    }

    /// The filter over `{"<kind>": [objects], ...}`.
    pub fn lines_for_kinds(&self, kinds: &[(&str, &[&ApiValue])]) -> Result<Vec<String>, Bail> {
        let fields = kinds
            .iter()
            .map(|(kind, objects)| (Rc::from(*kind), Val::Items(objects)))
            .collect();
        let input = Val::Obj(Rc::new(fields));
        STEPS.with(|steps| steps.set(0));
        let mut lines = Lines::default();
        run(self.term, &input, None, &mut |v| lines.push(v))?;
        Ok(lines.lines)
    }
}

/// The chunks' runs on scoped threads of their own, one per core, each taking the next
/// chunk not yet taken. Used outside rayon's pool: a pass started ahead of its checks
/// must not need the pool's workers, which may all be waiting for the pass to finish.
fn chunks_on_own_threads(
    filters: &[&NativeFilter],
    objects: &[&ApiValue],
    chunk: usize,
) -> Vec<Vec<ChunkRun>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let parts: Vec<&[&ApiValue]> = objects.chunks(chunk).collect();
    let next = AtomicUsize::new(0);
    let threads = rayon::current_num_threads().min(parts.len());
    let take_chunks = || {
        let mut done = Vec::new();
        loop {
            let at = next.fetch_add(1, Ordering::Relaxed);
            let Some(part) = parts.get(at) else {
                return done;
            };
            done.push((at, run_chunk(filters, part)));
        }
    };
    let mut runs: Vec<(usize, Vec<ChunkRun>)> = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(take_chunks)).collect();
        let mut runs = take_chunks();
        for helper in helpers {
            // as rayon would: a panic in a chunk is the pass's
            runs.extend(
                helper
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
        }
        runs
    });
    runs.sort_by_key(|(at, _)| *at);
    runs.into_iter().map(|(_, run)| run).collect()
}

/// One filter over a run of consecutive objects: its lines, or where it bailed.
struct ChunkRun {
    lines: Result<Lines, Bail>,
    steps: u64,
}

/// Every filter over `objects`, each object read by all filters before the next.
fn run_chunk(filters: &[&NativeFilter], objects: &[&ApiValue]) -> Vec<ChunkRun> {
    let mut runs: Vec<ChunkRun> = filters
        .iter()
        .map(|_| ChunkRun {
            lines: Ok(Lines::default()),
            steps: 0,
        })
        .collect();
    for &object in objects {
        for (filter, chunk_run) in filters.iter().zip(&mut runs) {
            let Ok(lines) = &mut chunk_run.lines else {
                continue;
            };
            STEPS.with(|steps| steps.set(chunk_run.steps));
            let flow = run(filter.term, &Val::Json(object), None, &mut |v| {
                lines.push(v)
            });
            chunk_run.steps = STEPS.with(|steps| steps.get());
            if flow.is_err() {
                chunk_run.lines = Err(Bail);
            }
        }
    }
    runs
}

/// One filter's chunks joined in order. A whole run bails when a chunk did or when the
/// totals pass a bound, as one run over all the objects would have on the way.
fn merged(chunks: Vec<ChunkRun>) -> Result<Vec<String>, Bail> {
    let mut lines = Vec::new();
    let (mut bytes, mut steps) = (0, 0);
    for chunk in chunks {
        let part = chunk.lines?;
        lines.extend(part.lines);
        bytes += part.bytes;
        steps += chunk.steps;
    }
    if steps > MAX_STEPS || lines.len() > MAX_OUTPUTS || bytes > MAX_OUTPUT_BYTES {
        return Err(Bail);
    }
    Ok(lines)
}

/// Outputs as lines, within jq's output bounds (past them jaq's run reports the error).
#[derive(Default)]
struct Lines {
    lines: Vec<String>,
    bytes: usize,
}

impl Lines {
    fn push(&mut self, value: Val<'_>) -> Flow {
        let line = text(&value)?;
        self.bytes += line.len() + 1;
        if self.lines.len() >= MAX_OUTPUTS || self.bytes > MAX_OUTPUT_BYTES {
            return Err(Bail);
        }
        self.lines.push(line);
        Ok(())
    }
}

/// A value during a run: parts of the input borrowed, what the filter builds owned.
#[derive(Clone, Debug)]
enum Val<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Str(Rc<str>),
    /// An array the filter built.
    Arr(Rc<Vec<Val<'a>>>),
    /// An object the filter built (only looked up, never iterated or printed).
    Obj(Rc<HashMap<Rc<str>, Val<'a>>>),
    /// A value of the input.
    Json(&'a ApiValue),
    /// A list of input objects (one kind's, in `namespace/name` order).
    Items(&'a [&'a ApiValue]),
    /// A string written in the filter.
    Lit(&'a str),
}

/// What a value is, whichever way it is held.
enum View<'v, 'a> {
    Null,
    Bool(bool),
    Int(i64),
    /// A number that is not an `i64` (jq's handling of it is not modelled).
    OtherNum,
    Str(&'v str),
    Arr(ArrView<'v, 'a>),
    Obj,
}

enum ArrView<'v, 'a> {
    Built(&'v [Val<'a>]),
    Input(&'a [ApiValue]),
    Listed(&'a [&'a ApiValue]),
}

impl ArrView<'_, '_> {
    fn len(&self) -> usize {
        match self {
            ArrView::Built(items) => items.len(),
            ArrView::Input(items) => items.len(),
            ArrView::Listed(items) => items.len(),
        }
    }
}

impl<'a> Val<'a> {
    fn view(&self) -> View<'_, 'a> {
        match self {
            Val::Null => View::Null,
            Val::Bool(b) => View::Bool(*b),
            Val::Int(i) => View::Int(*i),
            Val::Str(s) => View::Str(s),
            Val::Lit(s) => View::Str(s),
            Val::Arr(items) => View::Arr(ArrView::Built(items)),
            Val::Obj(_) => View::Obj,
            Val::Items(items) => View::Arr(ArrView::Listed(items)),
            Val::Json(value) => match value {
                ApiValue::Null => View::Null,
                ApiValue::Bool(b) => View::Bool(*b),
                ApiValue::Number(n) => n.as_i64().map_or(View::OtherNum, View::Int),
                ApiValue::String(s) => View::Str(s),
                ApiValue::Array(items) => View::Arr(ArrView::Input(items)),
                ApiValue::Object(_) => View::Obj,
            },
        }
    }

    fn truthy(&self) -> bool {
        !matches!(self.view(), View::Null | View::Bool(false))
    }
}

/// What is in scope: variables bound by `as $x` (or a `$x` parameter) and functions
/// defined by `def`, innermost first.
struct Env<'e, 'a> {
    frame: Frame<'a>,
    outer: Option<&'e Env<'e, 'a>>,
}

enum Frame<'a> {
    Var(&'static str, Val<'a>),
    /// Definitions in scope, the last one innermost (a definition sees itself and the
    /// ones before it).
    Defs(&'static [Def<&'static str, Tm>]),
}

impl<'e, 'a> Env<'e, 'a> {
    fn var(name: &'static str, value: Val<'a>, outer: Option<&'e Env<'e, 'a>>) -> Self {
        Env {
            frame: Frame::Var(name, value),
            outer,
        }
    }
}

fn lookup<'a>(mut env: Option<&Env<'_, 'a>>, name: &str) -> Result<Val<'a>, Bail> {
    while let Some(scope) = env {
        if let Frame::Var(bound, value) = &scope.frame {
            if *bound == name {
                return Ok(value.clone());
            }
        }
        env = scope.outer;
    }
    Err(Bail)
}

/// The definition a call names, with the scope it was defined in (which its body sees).
type Found<'e, 'a> = (
    &'static Def<&'static str, Tm>,
    &'static [Def<&'static str, Tm>],
    Option<&'e Env<'e, 'a>>,
);

fn find_def<'e, 'a>(
    mut env: Option<&'e Env<'e, 'a>>,
    name: &str,
    arity: usize,
) -> Option<Found<'e, 'a>> {
    while let Some(scope) = env {
        if let Frame::Defs(defs) = scope.frame {
            if let Some(i) = defs
                .iter()
                .rposition(|def| def.name == name && def.args.len() == arity)
            {
                return Some((&defs[i], &defs[..=i], scope.outer));
            }
        }
        env = scope.outer;
    }
    None
}

type Out<'o, 'a> = &'o mut dyn FnMut(Val<'a>) -> Flow;

/// Whether every construct of the term is one [`run`] evaluates (it may still bail on
/// values it does not model).
fn supported(term: &Term<&str>) -> bool {
    Scope::default().supports(term)
}

/// The names a call may reach at a point of the filter: the functions defined around it
/// (name and arity) and the parameters of the definitions it is in, whose names jq also
/// makes filters (`def f($a): a;`), which the native run does not model; and the
/// variables bound there. A filter using a name not bound where it is used is left to
/// jaq, whose compiler refuses it: so a filter the native run supports always compiles.
#[derive(Clone, Default)]
struct Scope<'t> {
    defined: Vec<(&'t str, usize)>,
    parameters: Vec<&'t str>,
    variables: Vec<&'t str>,
}

impl<'t> Scope<'t> {
    fn binding(&self, variable: &'t str) -> Self {
        let mut scope = self.clone();
        scope.variables.push(variable);
        scope
    }

    fn supports(&self, term: &'t Term<&'t str>) -> bool {
        let supported = |inner: &'t Term<&'t str>| self.supports(inner);
        match term {
            Term::Var(name) => self.variables.contains(name),
            Term::BinOp(l, BinaryOp::Pipe(Some(Pattern::Var(name))), r) => {
                self.supports(l) && self.binding(name).supports(r)
            }
            Term::Fold(fold, source, Pattern::Var(name), args) if *fold == "reduce" => {
                let inner = self.binding(name);
                self.supports(source)
                    && matches!(&args[..], [init, update] if self.supports(init)
                    && object_set(update).is_some_and(|(key, _, value)| {
                        inner.supports(key) && inner.supports(value)
                    }))
            }
            Term::Def(defs, body) => {
                let mut scope = self.clone();
                for def in defs {
                    scope.defined.push((def.name, def.args.len()));
                    if !scope.supports_def(def) {
                        return false;
                    }
                }
                scope.supports(body)
            }
            Term::Obj(entries) => entries.iter().all(|(key, value)| {
                literal_key(key).is_some() && value.as_ref().is_some_and(supported)
            }),
            Term::Call(name, args) if self.parameters.contains(name) && args.is_empty() => false,
            Term::Call(name, args) if self.defined.contains(&(*name, args.len())) => {
                args.iter().all(supported)
            }
            Term::Call(name, args) if *name == "tojson" => args.is_empty(),
            _ => supported_here(term, supported),
        }
    }

    /// Only `$name` parameters: a filter parameter is a closure the native run does not
    /// model.
    fn supports_def(&self, def: &'t Def<&'t str, Term<&'t str>>) -> bool {
        if !def.args.iter().all(|arg| arg.starts_with('$')) {
            return false;
        }
        let mut scope = self.clone();
        scope
            .parameters
            .extend(def.args.iter().map(|arg| &arg[1..]));
        scope.variables.extend(def.args.iter().copied());
        scope.supports(&def.body)
    }
}

/// A key written as a plain string or name (`{kind: ...}`, `{"a b": ...}`).
fn literal_key<'t>(key: &'t Term<&'t str>) -> Option<&'t str> {
    match key {
        Term::Str(None, parts) => match &parts[..] {
            [] => Some(""),
            [StrPart::Str(text)] => Some(text),
            _ => None,
        },
        _ => None,
    }
}

fn supported_here<'t>(
    term: &'t Term<&'t str>,
    supported: impl Fn(&'t Term<&'t str>) -> bool + Copy,
) -> bool {
    match term {
        Term::Id | Term::Num(_) | Term::Arr(None) => true,
        Term::Str(None, parts) => parts.iter().all(|part| match part {
            StrPart::Term(inner) => supported(inner),
            _ => true,
        }),
        Term::Arr(Some(inner)) => supported(inner),
        Term::BinOp(l, op, r) => {
            let op_ok = matches!(
                op,
                BinaryOp::Pipe(None)
                    | BinaryOp::Comma
                    | BinaryOp::Alt
                    | BinaryOp::And
                    | BinaryOp::Or
                    | BinaryOp::Cmp(_)
                    | BinaryOp::Math(Math::Add)
            );
            op_ok && supported(l) && supported(r)
        }
        Term::IfThenElse(branches, otherwise) => {
            branches.iter().all(|(c, t)| supported(c) && supported(t))
                && otherwise.as_deref().is_none_or(supported)
        }
        Term::Call(name, args) => {
            let known = matches!(
                (*name, args.len()),
                ("select", 1)
                    | ("not", 0)
                    | ("empty", 0)
                    | ("true", 0)
                    | ("false", 0)
                    | ("null", 0)
                    | ("length", 0)
                    | ("join", 1)
                    | ("any", 1)
                    | ("any", 2)
            );
            known && args.iter().all(supported)
        }
        Term::Path(base, path) => {
            supported(base)
                && path.0.iter().all(|(part, _)| match part {
                    Part::Index(index) => supported(index),
                    Part::Range(None, None) => true,
                    Part::Range(..) => false,
                })
        }
        _ => false,
    }
}

/// How `reduce` updates its object.
#[derive(Clone, Copy)]
enum Update {
    /// `.[KEY] = VALUE`
    Set,
    /// `.[KEY] += VALUE`
    Add,
}

/// `.[KEY] = VALUE` or `.[KEY] += VALUE`: the only updates `reduce` runs natively.
fn object_set<'t>(
    term: &'t Term<&'t str>,
) -> Option<(&'t Term<&'t str>, Update, &'t Term<&'t str>)> {
    let Term::BinOp(target, op, value) = term else {
        return None;
    };
    let update = match op {
        BinaryOp::Assign => Update::Set,
        BinaryOp::UpdateMath(Math::Add) => Update::Add,
        _ => return None,
    };
    match &**target {
        Term::Path(base, path) if matches!(**base, Term::Id) => match &path.0[..] {
            [(Part::Index(key), Opt::Essential)] => Some((key, update, value)),
            _ => None,
        },
        _ => None,
    }
}

type Tm = Term<&'static str>;

/// The one output of `term`, bailing when it has none or several (jq's order over
/// several outputs of an operand is not modelled).
fn one<'a>(term: &'static Tm, input: &Val<'a>, env: Option<&Env<'_, 'a>>) -> Result<Val<'a>, Bail> {
    let mut found = None;
    let mut count = 0;
    run(term, input, env, &mut |v| {
        count += 1;
        found = Some(v);
        Ok(())
    })?;
    match (count, found) {
        (1, Some(v)) => Ok(v),
        _ => Err(Bail),
    }
}

fn all<'a>(
    term: &'static Tm,
    input: &Val<'a>,
    env: Option<&Env<'_, 'a>>,
) -> Result<Vec<Val<'a>>, Bail> {
    let mut values = Vec::new();
    run(term, input, env, &mut |v| {
        if values.len() >= MAX_ARRAY {
            return Err(Bail);
        }
        values.push(v);
        Ok(())
    })?;
    Ok(values)
}

fn run<'a>(
    term: &'static Tm,
    input: &Val<'a>,
    env: Option<&Env<'_, 'a>>,
    out: Out<'_, 'a>,
) -> Flow {
    step()?;
    match term {
        Term::Id => out(input.clone()),
        Term::Num(text) => out(Val::Int(text.parse().map_err(|_| Bail)?)),
        Term::Str(None, parts) => match literal(parts) {
            Some(text) => out(Val::Lit(text)),
            None => out(Val::Str(interpolate(parts, input, env)?.into())),
        },
        Term::Obj(entries) => out(object(entries, input, env)?),
        Term::Def(defs, body) => {
            let scope = Env {
                frame: Frame::Defs(defs),
                outer: env,
            };
            run(body, input, Some(&scope), out)
        }
        Term::Arr(None) => out(Val::Arr(Rc::new(Vec::new()))),
        Term::Arr(Some(inner)) => out(Val::Arr(Rc::new(all(inner, input, env)?))),
        Term::Var(name) => out(lookup(env, name)?),
        Term::BinOp(l, op, r) => binary(l, op, r, input, env, out),
        Term::IfThenElse(branches, otherwise) => {
            if_then_else(branches, otherwise.as_deref(), input, env, out)
        }
        Term::Call(name, args) => call(name, args, input, env, out),
        Term::Path(base, path) => run(base, input, env, &mut |v| {
            parts(&v, &path.0, input, env, out)
        }),
        Term::Fold(fold, source, Pattern::Var(name), args) if *fold == "reduce" => {
            let [init, update] = &args[..] else {
                return Err(Bail);
            };
            let (key, update, value) = object_set(update).ok_or(Bail)?;
            let mut acc = one(init, input, env)?;
            for item in all(source, input, env)? {
                let frame = Env::var(name, item, env);
                let key = one(key, &acc, Some(&frame))?;
                let mut value = one(value, &acc, Some(&frame))?;
                if let Update::Add = update {
                    value = add(index_value(&acc, &key).map_err(|_| Bail)?, value)?;
                }
                acc = set_field(acc, key, value)?;
            }
            out(acc)
        }
        _ => Err(Bail),
    }
}

/// `.[key] = value` on a built object (or null, which becomes one).
fn set_field<'a>(target: Val<'a>, key: Val<'a>, value: Val<'a>) -> Result<Val<'a>, Bail> {
    let View::Str(key) = key.view() else {
        return Err(Bail);
    };
    let key: Rc<str> = key.into();
    let mut fields = match target {
        Val::Obj(fields) => fields,
        Val::Null | Val::Json(ApiValue::Null) => Rc::new(HashMap::new()),
        _ => return Err(Bail),
    };
    Rc::make_mut(&mut fields).insert(key, value);
    Ok(Val::Obj(fields))
}

fn binary<'a>(
    l: &'static Tm,
    op: &'static BinaryOp<&'static str>,
    r: &'static Tm,
    input: &Val<'a>,
    env: Option<&Env<'_, 'a>>,
    out: Out<'_, 'a>,
) -> Flow {
    match op {
        BinaryOp::Pipe(None) => run(l, input, env, &mut |v| run(r, &v, env, out)),
        BinaryOp::Pipe(Some(Pattern::Var(name))) => run(l, input, env, &mut |value| {
            let frame = Env::var(name, value, env);
            run(r, input, Some(&frame), out)
        }),
        BinaryOp::Comma => {
            run(l, input, env, out)?;
            run(r, input, env, out)
        }
        BinaryOp::Alt => {
            // mostly one output (`.spec.containers // []`): kept without a vector
            let mut first = None;
            let mut more = Vec::new();
            run(l, input, env, &mut |v| {
                if !v.truthy() {
                    return Ok(());
                }
                if first.is_none() {
                    first = Some(v);
                } else if more.len() < MAX_ARRAY {
                    more.push(v);
                } else {
                    return Err(Bail);
                }
                Ok(())
            })?;
            match first {
                None => run(r, input, env, out),
                Some(first) => {
                    out(first)?;
                    more.into_iter().try_for_each(out)
                }
            }
        }
        BinaryOp::And => {
            let left = one(l, input, env)?;
            if !left.truthy() {
                return out(Val::Bool(false));
            }
            out(Val::Bool(one(r, input, env)?.truthy()))
        }
        BinaryOp::Or => {
            let left = one(l, input, env)?;
            if left.truthy() {
                return out(Val::Bool(true));
            }
            out(Val::Bool(one(r, input, env)?.truthy()))
        }
        BinaryOp::Cmp(op) => {
            let (left, right) = (one(l, input, env)?, one(r, input, env)?);
            out(Val::Bool(compare(*op, &left, &right)?))
        }
        BinaryOp::Math(Math::Add) => {
            let (left, right) = (one(l, input, env)?, one(r, input, env)?);
            out(add(left, right)?)
        }
        _ => Err(Bail),
    }
}

fn if_then_else<'a>(
    branches: &'static [(Tm, Tm)],
    otherwise: Option<&'static Tm>,
    input: &Val<'a>,
    env: Option<&Env<'_, 'a>>,
    out: Out<'_, 'a>,
) -> Flow {
    let Some(((condition, then), rest)) = branches.split_first() else {
        return match otherwise {
            Some(term) => run(term, input, env, out),
            None => out(input.clone()),
        };
    };
    run(condition, input, env, &mut |c| {
        if c.truthy() {
            run(then, input, env, out)
        } else {
            if_then_else(rest, otherwise, input, env, out)
        }
    })
}

fn call<'a>(
    name: &'static str,
    args: &'static [Tm],
    input: &Val<'a>,
    env: Option<&Env<'_, 'a>>,
    out: Out<'_, 'a>,
) -> Flow {
    if let Some((def, scope, outer)) = find_def(env, name, args.len()) {
        let _depth = Depth::enter()?;
        let scope = Env {
            frame: Frame::Defs(scope),
            outer,
        };
        return bind_parameters(&def.args, args, &def.body, input, env, &scope, out);
    }
    match (name, args) {
        ("tojson", []) => out(Val::Str(json_text(input)?.into())),
        ("select", [condition]) => run(condition, input, env, &mut |c| {
            if c.truthy() {
                out(input.clone())
            } else {
                Ok(())
            }
        }),
        ("not", []) => out(Val::Bool(!input.truthy())),
        ("empty", []) => Ok(()),
        ("true", []) => out(Val::Bool(true)),
        ("false", []) => out(Val::Bool(false)),
        ("null", []) => out(Val::Null),
        ("length", []) => out(Val::Int(length(input)?)),
        ("join", [separator]) => {
            let separator = one(separator, input, env)?;
            out(Val::Str(join(input, &separator)?.into()))
        }
        ("any", [condition]) => out(Val::Bool(any(&elements(input)?, condition, env)?)),
        ("any", [generator, condition]) => out(Val::Bool(any(
            &all(generator, input, env)?,
            condition,
            env,
        )?)),
        _ => Err(Bail),
    }
}

/// `def f($a; $b): body` called as `f(x; y)` is `x as $a | y as $b | body`: the
/// arguments run on the call's input in the caller's scope, the body in the definition's.
fn bind_parameters<'a>(
    parameters: &'static [&'static str],
    args: &'static [Tm],
    body: &'static Tm,
    input: &Val<'a>,
    caller: Option<&Env<'_, 'a>>,
    scope: &Env<'_, 'a>,
    out: Out<'_, 'a>,
) -> Flow {
    let (Some((parameter, parameters)), Some((arg, args))) =
        (parameters.split_first(), args.split_first())
    else {
        return run(body, input, Some(scope), out);
    };
    run(arg, input, caller, &mut |value| {
        let bound = Env::var(parameter, value, Some(scope));
        bind_parameters(parameters, args, body, input, caller, &bound, out)
    })
}

thread_local! {
    static DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// How deep calls of defined functions may nest before the run leaves the filter to jaq
/// (a recursive definition would otherwise exhaust the stack).
const MAX_DEPTH: u32 = 64;

/// One level of calls, left when dropped.
struct Depth;

impl Depth {
    fn enter() -> Result<Depth, Bail> {
        DEPTH.with(|depth| {
            if depth.get() >= MAX_DEPTH {
                return Err(Bail);
            }
            depth.set(depth.get() + 1);
            Ok(Depth)
        })
    }
}

impl Drop for Depth {
    fn drop(&mut self) {
        DEPTH.with(|depth| depth.set(depth.get() - 1));
    }
}

/// `{key: value, ...}` with plain keys, each value having one output.
fn object<'a>(
    entries: &'static [(Tm, Option<Tm>)],
    input: &Val<'a>,
    env: Option<&Env<'_, 'a>>,
) -> Result<Val<'a>, Bail> {
    let mut fields = HashMap::with_capacity(entries.len());
    for (key, value) in entries {
        let (Some(key), Some(value)) = (literal_key(key), value) else {
            return Err(Bail);
        };
        fields.insert(Rc::from(key), one(value, input, env)?);
    }
    Ok(Val::Obj(Rc::new(fields)))
}

/// jq's `tojson` of null, booleans, integers, strings of printable ASCII (no escapes) and
/// arrays of these; anything else (escapes, floats, objects) is not modelled.
fn json_text(value: &Val<'_>) -> Result<String, Bail> {
    let mut text = String::new();
    write_json(value, &mut text)?;
    Ok(text)
}

fn write_json(value: &Val<'_>, text: &mut String) -> Flow {
    match value.view() {
        View::Null | View::Bool(_) => text.push_str(&self::text(value)?),
        // past 2^53 jq's number printing is not modelled
        View::Int(i) if i.unsigned_abs() <= 1 << 53 => text.push_str(&i.to_string()),
        View::Str(s)
            if s.bytes()
                .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\') =>
        {
            text.push('"');
            text.push_str(s);
            text.push('"');
        }
        View::Arr(_) => {
            text.push('[');
            for (i, item) in elements(value)?.iter().enumerate() {
                if i > 0 {
                    text.push(',');
                }
                write_json(item, text)?;
            }
            text.push(']');
        }
        View::Int(_) | View::Str(_) | View::OtherNum | View::Obj => return Err(Bail),
    }
    if text.len() > MAX_VALUE_BYTES {
        return Err(Bail);
    }
    Ok(())
}

/// jq's `any(g; cond)`: stops at the first item whose condition holds.
fn any<'a>(
    items: &[Val<'a>],
    condition: &'static Tm,
    env: Option<&Env<'_, 'a>>,
) -> Result<bool, Bail> {
    for item in items {
        let mut found = false;
        run(condition, item, env, &mut |c| {
            found |= c.truthy();
            Ok(())
        })?;
        if found {
            return Ok(true);
        }
    }
    Ok(false)
}

fn length(value: &Val<'_>) -> Result<i64, Bail> {
    let n = match value.view() {
        View::Null => 0,
        View::Arr(items) => items.len(),
        View::Obj => match value {
            Val::Obj(fields) => fields.len(),
            Val::Json(ApiValue::Object(fields)) => fields.len(),
            _ => return Err(Bail),
        },
        _ => return Err(Bail),
    };
    i64::try_from(n).map_err(|_| Bail)
}

/// `join` of an array of strings (other elements are not modelled).
fn join(value: &Val<'_>, separator: &Val<'_>) -> Result<String, Bail> {
    let View::Str(separator) = separator.view() else {
        return Err(Bail);
    };
    let mut joined = String::new();
    for (i, item) in elements(value)?.iter().enumerate() {
        let View::Str(text) = item.view() else {
            return Err(Bail);
        };
        if i > 0 {
            joined.push_str(separator);
        }
        joined.push_str(text);
        if joined.len() > MAX_VALUE_BYTES {
            return Err(Bail);
        }
    }
    Ok(joined)
}

/// The elements of an array (`.[]`); anything else is not modelled here.
fn elements<'a>(value: &Val<'a>) -> Result<Vec<Val<'a>>, Bail> {
    match value {
        Val::Arr(items) => Ok(items.to_vec()),
        Val::Items(items) => Ok(items.iter().map(|&item| Val::Json(item)).collect()),
        Val::Json(ApiValue::Array(items)) => Ok(items.iter().map(Val::Json).collect()),
        _ => Err(Bail),
    }
}

/// The path's parts applied in turn; `input` is the path's own input, which its index
/// terms read (`$m[.metadata.name]`).
fn parts<'a>(
    value: &Val<'a>,
    path: &'static [(Part<Tm>, Opt)],
    input: &Val<'a>,
    env: Option<&Env<'_, 'a>>,
    out: Out<'_, 'a>,
) -> Flow {
    let Some(((part, opt), rest)) = path.split_first() else {
        return out(value.clone());
    };
    let result = match part {
        Part::Index(index) => {
            let key = one(index, input, env)?;
            match index_value(value, &key) {
                Ok(found) => return parts(&found, rest, input, env, out),
                Err(error) => Err(error),
            }
        }
        Part::Range(None, None) => match value {
            Val::Arr(items) => {
                return items
                    .iter()
                    .try_for_each(|item| parts(item, rest, input, env, out))
            }
            Val::Items(items) => {
                let items: &'a [&'a ApiValue] = items;
                return items
                    .iter()
                    .try_for_each(|&item| parts(&Val::Json(item), rest, input, env, out));
            }
            Val::Json(ApiValue::Array(items)) => {
                let items: &'a [ApiValue] = items;
                return items
                    .iter()
                    .try_for_each(|item| parts(&Val::Json(item), rest, input, env, out));
            }
            Val::Json(ApiValue::Object(fields)) => {
                return fields
                    .iter()
                    .map(|(_, value)| value)
                    .try_for_each(|item| parts(&Val::Json(item), rest, input, env, out))
            }
            // a built object's iteration order is not modelled
            Val::Obj(_) => return Err(Bail),
            _ => Err(JqError::Raised),
        },
        Part::Range(..) => return Err(Bail),
    };
    match (result, opt) {
        // `?`: jq's error becomes no output
        (Err(JqError::Raised), Opt::Optional) => Ok(()),
        (Err(_), _) => Err(Bail),
        (Ok(()), _) => Ok(()),
    }
}

/// Why a path part gave no value.
enum JqError {
    /// An error jq raises (which `?` turns into no output).
    Raised,
    /// A case the native run does not model.
    Unmodelled,
}

fn index_value<'a>(value: &Val<'a>, key: &Val<'a>) -> Result<Val<'a>, JqError> {
    match (value, key.view()) {
        (Val::Null | Val::Json(ApiValue::Null), View::Str(_) | View::Int(_)) => Ok(Val::Null),
        (Val::Json(object @ ApiValue::Object(_)), View::Str(key)) => {
            Ok(object.get(key).map_or(Val::Null, Val::Json))
        }
        (Val::Obj(fields), View::Str(key)) => Ok(fields.get(key).cloned().unwrap_or(Val::Null)),
        // an index from the end is not modelled
        (_, View::Int(i)) if i < 0 => Err(JqError::Unmodelled),
        (_, View::Int(i)) => match value.view() {
            View::Arr(ArrView::Input(items)) => {
                Ok(items.get(i as usize).map_or(Val::Null, Val::Json))
            }
            View::Arr(ArrView::Listed(items)) => Ok(items
                .get(i as usize)
                .map_or(Val::Null, |&item| Val::Json(item))),
            View::Arr(ArrView::Built(items)) => {
                Ok(items.get(i as usize).cloned().unwrap_or(Val::Null))
            }
            _ => Err(JqError::Raised),
        },
        _ => Err(JqError::Raised),
    }
}

/// `l + r` for null, integers (without overflow), strings and arrays.
fn add<'a>(left: Val<'a>, right: Val<'a>) -> Result<Val<'a>, Bail> {
    match (left.view(), right.view()) {
        (View::Null, _) => Ok(right),
        (_, View::Null) => Ok(left),
        (View::Int(a), View::Int(b)) => a.checked_add(b).map(Val::Int).ok_or(Bail),
        (View::Str(a), View::Str(b)) if a.len() + b.len() <= MAX_VALUE_BYTES => {
            Ok(Val::Str(format!("{a}{b}").into()))
        }
        // `a + []` is `a` (`(.spec.initContainers // [])` is mostly empty)
        (View::Arr(_), View::Arr(r)) if r.len() == 0 => Ok(left),
        (View::Arr(l), View::Arr(_)) if l.len() == 0 => Ok(right),
        (View::Arr(_), View::Arr(_)) => {
            let mut items = elements(&left)?;
            items.extend(elements(&right)?);
            if items.len() > MAX_ARRAY {
                return Err(Bail);
            }
            Ok(Val::Arr(Rc::new(items)))
        }
        _ => Err(Bail),
    }
}

/// A value's place in jq's order: null < false < true < numbers < strings < arrays <
/// objects. Scalars are compared by value; two containers, or two numbers of which one
/// is not an `i64`, are not modelled.
#[derive(PartialEq, PartialOrd)]
enum Rank<'v> {
    Null,
    False,
    True,
    Int(i64),
    Str(&'v str),
    Arr,
    Obj,
}

fn rank<'v>(value: &'v Val<'_>) -> Result<Rank<'v>, Bail> {
    match value.view() {
        View::Null => Ok(Rank::Null),
        View::Bool(false) => Ok(Rank::False),
        View::Bool(true) => Ok(Rank::True),
        View::Int(i) => Ok(Rank::Int(i)),
        View::Str(s) if s.len() <= MAX_VALUE_BYTES => Ok(Rank::Str(s)),
        View::Arr(_) => Ok(Rank::Arr),
        View::Obj => Ok(Rank::Obj),
        // floats and huge strings: jq's comparison of them is not modelled
        View::OtherNum | View::Str(_) => Err(Bail),
    }
}

fn compare(op: Cmp, left: &Val<'_>, right: &Val<'_>) -> Result<bool, Bail> {
    let (l, r) = (rank(left)?, rank(right)?);
    let containers = matches!(l, Rank::Arr | Rank::Obj) && matches!(r, Rank::Arr | Rank::Obj);
    if containers {
        return Err(Bail);
    }
    Ok(match op {
        Cmp::Eq => l == r,
        Cmp::Ne => l != r,
        Cmp::Lt => l < r,
        Cmp::Le => l <= r,
        Cmp::Gt => l > r,
        Cmp::Ge => l >= r,
    })
}

/// The text of a string without interpolation.
fn literal(parts: &'static [StrPart<&'static str, Tm>]) -> Option<&'static str> {
    match parts {
        [] => Some(""),
        [StrPart::Str(text)] => Some(text),
        _ => None,
    }
}

/// `"...\(f)..."`: each interpolated term has one output, shown as `tostring` shows it.
fn interpolate<'a>(
    parts: &'static [StrPart<&'static str, Tm>],
    input: &Val<'a>,
    env: Option<&Env<'_, 'a>>,
) -> Result<String, Bail> {
    let mut text = String::new();
    for part in parts {
        match part {
            StrPart::Str(s) => text.push_str(s),
            StrPart::Char(c) => text.push(*c),
            StrPart::Term(term) => text.push_str(&self::text(&one(term, input, env)?)?),
        }
        if text.len() > MAX_VALUE_BYTES {
            return Err(Bail);
        }
    }
    Ok(text)
}

/// A scalar as `jq -r` prints it; containers and floats are not modelled.
fn text(value: &Val<'_>) -> Result<String, Bail> {
    Ok(match value.view() {
        View::Null => "null".to_owned(),
        View::Bool(b) => b.to_string(),
        View::Int(i) => i.to_string(),
        View::Str(s) => s.to_owned(),
        View::OtherNum | View::Arr(_) | View::Obj => return Err(Bail),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn lines(filter: &str, objects: &[Value]) -> Option<Result<Vec<String>, Bail>> {
        let objects: Vec<ApiValue> = objects.iter().map(ApiValue::from).collect();
        let objects: Vec<&ApiValue> = objects.iter().collect();
        NativeFilter::cached(filter).map(|native| native.lines_for_each(&objects))
    }

    #[test]
    fn a_filter_in_the_subset_prints_one_line_per_output() {
        let pods = [
            json!({"metadata": {"name": "a", "namespace": "x"}, "spec": {"hostPID": true}}),
            json!({"metadata": {"name": "b", "namespace": "kube-system"}, "spec": {"hostPID": true}}),
            json!({"metadata": {"name": "c", "namespace": "x"}}),
        ];
        let filter = r#"select(.metadata.namespace != "kube-system" and .spec.hostPID == true)
            | "pod \(.metadata.namespace)/\(.metadata.name)", .spec.hostPID, 3"#;
        assert_eq!(
            lines(filter, &pods),
            Some(Ok(vec!["pod x/a".into(), "true".into(), "3".into()]))
        );
    }

    #[test]
    fn constructs_outside_the_subset_are_left_to_jaq() {
        for filter in [
            "def f(g): g; f(.)",
            "def f($a): a; f(1)",
            "tojson(1)",
            "{a}",
            "{(.k): 1}",
            "reduce .[] as $x ({}; .[$x] -= 1)",
            ".[1:]",
            "foreach .[] as $x (0; 1)",
            "-1",
        ] {
            assert!(NativeFilter::cached(filter).is_none(), "{filter}");
        }
    }

    #[test]
    fn values_whose_behaviour_is_not_modelled_bail() {
        let objects = [json!({"a": 1.5, "b": [1], "c": {"d": 1}, "s": "x"})];
        for filter in [
            ".a",
            ".a == 1",
            ".b == .b",
            ".c",
            "\"\\(.b)\"",
            ".s[]",
            ".s.x",
        ] {
            assert_eq!(lines(filter, &objects), Some(Err(Bail)), "{filter}");
        }
        // `?` turns jq's error into no output, which is modelled
        assert_eq!(lines(".s[]?, .s.x?", &objects), Some(Ok(vec![])));
    }

    #[test]
    fn definitions_bind_value_parameters_and_see_the_scope_they_were_defined_in() {
        let objects = [json!({"a": "x", "l": ["p", "q"]})];
        for (filter, expected) in [
            // each output of each argument, in jq's order
            (
                r#"def f($x; $y): "\($x)\($y)"; f(.l[]; .l[])"#,
                vec!["pp", "pq", "qp", "qq"],
            ),
            // the body sees variables and functions of its definition's scope, not the caller's
            (
                r#""d" as $v | def f: $v; "c" as $v | f, $v"#,
                vec!["d", "c"],
            ),
            (
                r#"def g: "outer"; def f: g; def g: "inner"; f, g"#,
                vec!["outer", "inner"],
            ),
            // a later definition of the same name and arity shadows an earlier one
            (r#"def f: 1; def f: 2; f"#, vec!["2"]),
            ("def f($a): $a + 1; f(2)", vec!["3"]),
            // a definition may shadow a builtin
            ("def length: 7; .l | length", vec!["7"]),
            (r#"{k: .a, n: 1} | .k, .n, .z"#, vec!["x", "1", "null"]),
            (
                r#"reduce .l[] as $x ({}; .[$x] += [$x]) | .p[0]"#,
                vec!["p"],
            ),
            (r#".l | tojson"#, vec![r#"["p","q"]"#]),
            (
                r#"[null, true, 3, .a] | tojson"#,
                vec![r#"[null,true,3,"x"]"#],
            ),
        ] {
            assert_eq!(
                lines(filter, &objects),
                Some(Ok(expected.into_iter().map(String::from).collect())),
                "{filter}"
            );
        }
    }

    #[test]
    fn recursion_and_json_text_needing_escapes_are_left_to_jaq() {
        let objects = [json!({"s": "a\"b", "u": "é", "f": 1.5, "o": {}})];
        for filter in [
            "def f: f; f",
            ".s | tojson",
            ".u | tojson",
            ".f | tojson",
            ".o | tojson",
            "{a: (1, 2)}",
        ] {
            assert_eq!(lines(filter, &objects), Some(Err(Bail)), "{filter}");
        }
    }

    #[test]
    fn a_run_past_its_steps_leaves_the_filter_to_jaq_and_its_bounds() {
        let list = json!({"l": (0..120).collect::<Vec<_>>()});
        let filter = ".l[] as $a | .l[] as $b | .l[] | empty";
        assert_eq!(lines(filter, &[list]), Some(Err(Bail)));
    }

    #[test]
    fn filters_run_together_give_what_each_gives_alone() {
        let pods: Vec<Value> = (0..1000)
            .map(|i| {
                json!({
                    "metadata": {"name": format!("p{i}"), "namespace": if i % 7 == 0 { "kube-system" } else { "x" }},
                    "spec": {"hostPID": i % 3 == 0, "n": if i == 900 { json!(1.5) } else { json!(i) }},
                })
            })
            .collect();
        let filters = [
            r#"select(.metadata.namespace != "kube-system" and .spec.hostPID == true) | "pod \(.metadata.name)""#,
            // bails at one object only (a float)
            ".spec.n + 1",
            ".metadata.name",
        ];
        let natives: Vec<&NativeFilter> = filters
            .iter()
            .filter_map(|filter| NativeFilter::cached(filter))
            .collect();
        assert_eq!(natives.len(), filters.len());
        let pods: Vec<ApiValue> = pods.iter().map(ApiValue::from).collect();
        let objects: Vec<&ApiValue> = pods.iter().collect();
        // outside the pool (a pass started ahead: threads of its own) and on its workers
        let together = NativeFilter::lines_for_each_of(&natives, &objects);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let on_the_pool = pool.install(|| NativeFilter::lines_for_each_of(&natives, &objects));
        let alone: Vec<_> = natives
            .iter()
            .map(|native| native.lines_for_each(&objects))
            .collect();
        assert_eq!(together, alone);
        assert_eq!(on_the_pool, alone);
        assert!(together[0].as_ref().is_ok_and(|lines| !lines.is_empty()));
        assert_eq!(together[1], Err(Bail));
        assert_eq!(together.last().unwrap().as_ref().map(Vec::len), Ok(1000));
    }
}
