//! Bounds on the jq filters of benchmark files (trusted but checked, docs/security.md).
//!
//! - At load, a filter that names what reaches outside the filter is refused: `halt`,
//!   `halt_error` (would end the run, `halt` with exit 0), `env` and `$ENV` (the scanner's
//!   environment), `input`, `inputs`, `input_filename`, `$__loc__`, `debug`, `stderr`.
//!   Those filters are also left out of the compiled library, so no spelling reaches them.
//! - While running, every call of a defined function (the standard library's and the
//!   filter's own) and every value `range` produces passes a budget check: a wall-clock
//!   limit per run ([`TIME_LIMIT`]), a recursion limit measured as stack used
//!   ([`STACK_LIMIT`]) and the bytes the run's thread allocated and has not freed
//!   ([`MEMORY_LIMIT`], counted by [`CountingAllocator`]). The outputs are counted and
//!   measured in the run's loop ([`MAX_OUTPUTS`], [`MAX_OUTPUT_BYTES`]). Past any bound
//!   the run stops with an error: that check is ERROR.
//! - What one native step could allocate at once is checked before the step: a string
//!   repetition (`"x" * 10000000000`) and turning a value into text (`tojson`,
//!   `tostring`, string interpolation, printing an output) are refused past
//!   [`MAX_VALUE_BYTES`] — values share their parts, so `[., .]` forty times is small in
//!   memory but a terabyte as text. The same bound holds for what one native step compares:
//!   `==`, `<` and the other comparisons (the smaller operand), `sort`, `sort_by`,
//!   `group_by`, `unique`, `unique_by`, `min`, `max`, `min_by`, `max_by`, `bsearch`
//!   (their input and each key), and `contains`, `inside` and `indices`, which compare every
//!   part of one value with every part of the other ([`MAX_SEARCH_WORK`]).
//! - Filters may not name the guarded natives (`__cisgate_...`) themselves.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::time::{Duration, Instant};

use jaq_core::box_iter::box_once;
use jaq_core::load::lex::{StrPart, Token};
use jaq_core::load::parse::{BinaryOp, Def, Parser, Term};
use jaq_core::native::{v, Fun};
use jaq_core::ops::{Cmp, Math};
use jaq_core::{Error, Exn, Native};

/// What the library and filters run over.
pub type Data = jaq_core::data::JustLut<jaq_json::Val>;

pub use crate::matching::jq_names::{forbidden_name, FORBIDDEN};

/// How long one run of one filter may take.
pub const TIME_LIMIT: Duration = Duration::from_secs(30);
/// How much stack one run may use (deep recursion; the threads running checks have 2 MiB
/// or more).
pub const STACK_LIMIT: usize = 1 << 20;
/// How many values one run may print.
pub const MAX_OUTPUTS: usize = 1_000_000;
/// How many bytes one run may print.
pub const MAX_OUTPUT_BYTES: usize = 64 << 20;

/// The largest value one native step may build as a string or turn into text.
pub const MAX_VALUE_BYTES: usize = 64 << 20;

/// The native function every defined function calls first.
const TICK: &str = "__cisgate_budget";
/// The name the benchmark's filter is loaded under; load [`MAIN`] as the main code.
const FILTER: &str = "__cisgate_filter";
/// The main code of a program loaded with [`program_defs`].
pub const MAIN: &str = FILTER;
/// `l * r` with the size of a string repetition checked first.
const MUL: &str = "__cisgate_mul";
/// The checked product of two values (native).
const MUL_CHECKED: &str = "__cisgate_mul_checked";
/// `.` if its text is at most [`MAX_VALUE_BYTES`], else an error (native).
const SMALL: &str = "__cisgate_small";
/// `.` if comparing it costs at most [`MAX_VALUE_BYTES`] steps, else an error (native).
const SMALL_WORK: &str = "__cisgate_small_work";
/// `.` if searching `$x` in it costs at most [`MAX_SEARCH_WORK`] steps (native).
const SEARCHABLE: &str = "__cisgate_searchable";
/// The natives checked before they run: each is renamed `__cisgate_NAME` and the name
/// itself is a definition in [`guard_defs`] that checks the inputs first.
const GUARDED_NATIVES: [&str; 9] = [
    "tojson",
    "sort",
    "sort_by",
    "group_by",
    "min_by_or_empty",
    "max_by_or_empty",
    "contains",
    "indices",
    "bsearch",
];
/// The names the guarded natives run under ([`GUARDED_NATIVES`]).
const GUARDED_RAW: [&str; 9] = [
    "__cisgate_tojson",
    "__cisgate_sort",
    "__cisgate_sort_by",
    "__cisgate_group_by",
    "__cisgate_min_by_or_empty",
    "__cisgate_max_by_or_empty",
    "__cisgate_contains",
    "__cisgate_indices",
    "__cisgate_bsearch",
];
/// What `contains`, `inside` and `indices` may cost: the product of the sizes of the two
/// values (as text), as each part of one may be compared with each part of the other.
pub const MAX_SEARCH_WORK: u64 = 1 << 28;

/// What to load for `filter`: the bounded library ([`library_defs`]) and the filter itself,
/// bounded the same way, as the definition that [`MAIN`] calls.
pub fn program_defs(filter: &str) -> Result<Vec<Def<&str>>, String> {
    let tokens = jaq_core::load::Lexer::new(filter)
        .lex()
        .map_err(|errors| format!("{:?}", errors.iter().map(|e| e.1).collect::<Vec<_>>()))?;
    if let Some(name) = reserved_name(&tokens) {
        return Err(format!("`{name}` is reserved for cisgate's own bounds"));
    }
    let body = Parser::new(&tokens).parse(|p| p.term()).map_err(|errors| {
        let found: Vec<String> = errors
            .iter()
            .map(|(expected, found)| match found {
                Some(Token(text, _)) => format!("expected {}, found `{text}`", expected.as_str()),
                None => format!("expected {}, found the end", expected.as_str()),
            })
            .collect();
        found.join("; ")
    })?;
    let mut defs: Vec<Def<&str>> = library_defs().collect();
    defs.push(with_budget_check(Def {
        name: FILTER,
        args: Vec::new(),
        body,
    }));
    Ok(defs)
}

/// The first word of the filter naming one of the bounds' own definitions.
pub(super) fn reserved_name<'t>(tokens: &[Token<&'t str>]) -> Option<&'t str> {
    use jaq_core::load::lex::Tok;
    tokens.iter().find_map(|Token(text, kind)| match kind {
        Tok::Word | Tok::Var if text.contains("__cisgate") => Some(*text),
        Tok::Block(inner) => reserved_name(inner),
        Tok::Str(parts) => parts.iter().find_map(|part| match part {
            StrPart::Term(token) => reserved_name(std::slice::from_ref(token)),
            _ => None,
        }),
        _ => None,
    })
}

/// Guards defined before the library, so its definitions call them: `tojson` checks the
/// size of its input before jaq's, `__cisgate_mul` the size of a repetition.
fn guard_defs() -> impl Iterator<Item = Def<&'static str>> {
    let code = "def tojson: __cisgate_small | __cisgate_tojson; \
        def __cisgate_mul(l; r): r as $r | l as $l | __cisgate_mul_checked($l; $r); \
        def sort: __cisgate_small_work | __cisgate_sort; \
        def sort_by(f): __cisgate_small_work | __cisgate_sort_by(f | __cisgate_small_work); \
        def group_by(f): __cisgate_small_work | __cisgate_group_by(f | __cisgate_small_work); \
        def min_by_or_empty(f): \
            __cisgate_small_work | __cisgate_min_by_or_empty(f | __cisgate_small_work); \
        def max_by_or_empty(f): \
            __cisgate_small_work | __cisgate_max_by_or_empty(f | __cisgate_small_work); \
        def contains($x): __cisgate_searchable($x) | __cisgate_contains($x); \
        def indices($x): __cisgate_searchable($x) | __cisgate_indices($x); \
        def bsearch($x): __cisgate_small_work | ($x | __cisgate_small_work) as $x \
            | __cisgate_bsearch($x);";
    let tokens = jaq_core::load::Lexer::new(code)
        .lex()
        .expect("the guards lex");
    let defs = Parser::new(&tokens)
        .parse(|p| p.defs())
        .expect("the guards parse");
    defs.into_iter()
}

/// The standard library without the forbidden filters, each definition's body starting
/// with the budget check.
pub fn library_defs() -> impl Iterator<Item = Def<&'static str>> {
    guard_defs()
        .chain(jaq_core::defs())
        .chain(jaq_std::defs())
        .chain(jaq_json::defs())
        .filter(|def| !FORBIDDEN.contains(&def.name))
        .map(with_budget_check)
}

/// The definition with the budget check first in its body and in every definition
/// nested in it (`def repeat(f): def rec: f, rec; rec;` recurses through `rec`), its
/// multiplications checked ([`MUL`]) and its interpolated values checked ([`SMALL`]).
fn with_budget_check(mut def: Def<&str>) -> Def<&str> {
    add_nested_checks(&mut def.body);
    let body = std::mem::take(&mut def.body);
    def.body = Term::BinOp(
        Box::new(Term::Call(TICK, Vec::new())),
        BinaryOp::Pipe(None),
        Box::new(body),
    );
    def
}

fn add_nested_checks(term: &mut Term<&str>) {
    let visit = add_nested_checks;
    if let Term::BinOp(_, BinaryOp::Math(Math::Mul), _) = term {
        let Term::BinOp(left, _, right) = std::mem::take(term) else {
            unreachable!()
        };
        *term = Term::Call(MUL, vec![*left, *right]);
    }
    if let Term::BinOp(_, BinaryOp::Cmp(op), _) = term {
        let op = *op;
        let Term::BinOp(left, _, right) = std::mem::take(term) else {
            unreachable!()
        };
        // the left operand's outputs vary slowest, as in jaq's own comparison
        *term = Term::Call(compare_name(op), vec![*left, *right]);
    }
    match term {
        Term::Def(defs, rest) => {
            *defs = std::mem::take(defs)
                .into_iter()
                .map(with_budget_check)
                .collect();
            visit(rest);
        }
        Term::Str(_, parts) => parts.iter_mut().for_each(|part| {
            if let StrPart::Term(inner) = part {
                visit(inner);
                let value = std::mem::take(inner);
                *inner = Term::BinOp(
                    Box::new(value),
                    BinaryOp::Pipe(None),
                    Box::new(Term::Call(SMALL, Vec::new())),
                );
            }
        }),
        Term::Arr(Some(inner)) => {
            // every element collected passes the budget: `[.[][][]...]` over shared parts
            // collects without calling anything
            visit(inner);
            then_check(inner);
        }
        Term::Neg(inner) | Term::Label(_, inner) | Term::TryCatch(inner, None) => visit(inner),
        Term::TryCatch(inner, Some(catch)) => {
            visit(inner);
            visit(catch);
        }
        Term::Obj(entries) => entries.iter_mut().for_each(|(key, value)| {
            visit(key);
            if let Some(value) = value {
                visit(value);
            }
        }),
        Term::BinOp(left, _, right) => {
            visit(left);
            visit(right);
        }
        Term::Fold(_, inner, _, args) => {
            // `reduce .[] as $x (.; . + .)` loops without calling anything
            visit(inner);
            args.iter_mut().for_each(|arg| {
                visit(arg);
                then_check(arg);
            });
        }
        Term::IfThenElse(branches, otherwise) => {
            for (condition, then) in branches.iter_mut() {
                visit(condition);
                visit(then);
            }
            if let Some(otherwise) = otherwise {
                visit(otherwise);
            }
        }
        Term::Call(_, args) => args.iter_mut().for_each(visit),
        Term::Path(inner, _) => visit(inner),
        _ => {}
    }
}

/// The native that compares two values with `op` after checking their size.
fn compare_name(op: Cmp) -> &'static str {
    match op {
        Cmp::Lt => "__cisgate_lt",
        Cmp::Le => "__cisgate_le",
        Cmp::Gt => "__cisgate_gt",
        Cmp::Ge => "__cisgate_ge",
        Cmp::Eq => "__cisgate_eq",
        Cmp::Ne => "__cisgate_ne",
    }
}

/// The comparison natives, one per operator ([`compare_name`]).
fn compare_funs() -> impl Iterator<Item = Fun<Data>> {
    fn compare<const OP: u8>(mut cv: jaq_core::Cv<'_, Data>) -> jaq_core::ValXs<'_, jaq_json::Val> {
        const OPS: [Cmp; 6] = [Cmp::Lt, Cmp::Le, Cmp::Gt, Cmp::Ge, Cmp::Eq, Cmp::Ne];
        let right = cv.0.pop_var();
        let left = cv.0.pop_var();
        match check_comparison(&left, &right) {
            Ok(()) => box_once(Ok(OPS[OP as usize].run(&left, &right).into())),
            Err(message) => box_once(Err(stopped(message))),
        }
    }
    let natives: [(Cmp, jaq_core::RunPtr<Data>); 6] = [
        (Cmp::Lt, compare::<0>),
        (Cmp::Le, compare::<1>),
        (Cmp::Gt, compare::<2>),
        (Cmp::Ge, compare::<3>),
        (Cmp::Eq, compare::<4>),
        (Cmp::Ne, compare::<5>),
    ];
    natives
        .into_iter()
        .map(|(op, run)| (compare_name(op), v(2), Native::<Data>::new(run)))
}

/// `term | __cisgate_budget`.
fn then_check(term: &mut Term<&str>) {
    let inner = std::mem::take(term);
    *term = Term::BinOp(
        Box::new(inner),
        BinaryOp::Pipe(None),
        Box::new(Term::Call(TICK, Vec::new())),
    );
}

/// A bound's refusal as a jq error: it ends the filter, and the check is ERROR with it.
fn stopped<'a>(message: String) -> Exn<'a, jaq_json::Val> {
    Exn::from(Error::str(message))
}

/// `value` (an output, or a value and its path) as the one output when `check` passed,
/// else the check's error.
fn checked<'a, T: 'a>(
    check: Result<(), String>,
    value: T,
) -> jaq_core::box_iter::BoxIter<'a, Result<T, Exn<'a, jaq_json::Val>>> {
    box_once(check.map(|()| value).map_err(stopped))
}

/// The native filters without the forbidden ones, `range/3` counting its values, and the
/// budget check itself.
pub fn library_funs() -> impl Iterator<Item = Fun<Data>> {
    let budget: Fun<Data> = (
        TICK,
        v(0),
        Native::new(|cv| checked(check_budget(), cv.1))
            .with_paths(|cv| checked(check_budget(), cv.1))
            // updating `.` with `f` is `f` (`del(f)`, `f |= g` go through here)
            .with_update(|cv, update| match check_budget() {
                Ok(()) => update(cv.1),
                Err(message) => box_once(Err(stopped(message))),
            }),
    );
    let range: Fun<Data> = (
        "range",
        v(3),
        Native::<Data>::new(bounded_range::<Data> as jaq_core::RunPtr<Data>),
    );
    let small: Fun<Data> = (
        SMALL,
        v(0),
        Native::new(|cv| checked(check_value_size(&cv.1), cv.1)),
    );
    let small_work: Fun<Data> = (
        SMALL_WORK,
        v(0),
        Native::new(|cv| checked(check_work_size(&cv.1), cv.1)),
    );
    let searchable: Fun<Data> = (
        SEARCHABLE,
        v(1),
        Native::new(|mut cv| {
            let needle = cv.0.pop_var();
            checked(check_search(&cv.1, &needle), cv.1)
        }),
    );
    let mul: Fun<Data> = (
        MUL_CHECKED,
        v(2),
        Native::new(|mut cv| {
            let right = cv.0.pop_var();
            let left = cv.0.pop_var();
            match check_repetition(&left, &right) {
                Ok(()) => box_once((left * right).map_err(Exn::from)),
                Err(message) => box_once(Err(stopped(message))),
            }
        }),
    );
    jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs())
        .filter(|(name, args, _)| {
            let replaced = *name == "range" && args.len() == 3;
            !(FORBIDDEN.contains(name) || replaced)
        })
        .map(
            |(name, args, native)| match GUARDED_NATIVES.iter().position(|n| *n == name) {
                Some(index) => (GUARDED_RAW[index], args, native),
                None => (name, args, native),
            },
        )
        .chain([budget, range, small, small_work, searchable, mul])
        .chain(compare_funs())
}

/// Whether `left * right` stays within [`MAX_VALUE_BYTES`] (a string times a count is a
/// repetition, allocated at once).
fn check_repetition(left: &jaq_json::Val, right: &jaq_json::Val) -> Result<(), String> {
    use jaq_json::Val::{BStr, Num, Obj, TStr};
    let (text, count) = match (left, right) {
        (BStr(text) | TStr(text), Num(count)) | (Num(count), BStr(text) | TStr(text)) => {
            (text, count)
        }
        // a deep merge walks the keys both objects have
        (Obj(_), Obj(_)) => return check_comparison(left, right),
        _ => return Ok(()),
    };
    let count = match count {
        jaq_json::Num::Int(_) | jaq_json::Num::BigInt(_) => count.as_isize().unwrap_or(isize::MAX),
        _ => return Ok(()), // jaq refuses a string times a float
    };
    let bytes = text
        .len()
        .saturating_mul(usize::try_from(count).unwrap_or(0));
    if bytes > MAX_VALUE_BYTES {
        return Err(format!(
            "jq filter would repeat a string to more than {} MiB and was stopped",
            MAX_VALUE_BYTES >> 20
        ));
    }
    Ok(())
}

/// Whether `value` as text stays within [`MAX_VALUE_BYTES`]. The walk stops at the limit:
/// a value whose parts are shared many times over costs at most that much to measure.
pub fn check_value_size(value: &jaq_json::Val) -> Result<(), String> {
    match text_size_within(value, MAX_VALUE_BYTES) {
        Some(_) => Ok(()),
        None => Err(format!(
            "jq filter built a value of more than {} MiB as text and was stopped",
            MAX_VALUE_BYTES >> 20
        )),
    }
}

/// The value's size as text, counting shared parts each time they are reached, if at most
/// `limit`; `None` past it (the walk stops there).
fn text_size_within(value: &jaq_json::Val, limit: usize) -> Option<usize> {
    use jaq_json::Val;
    let scalar = |value: &Val| match value {
        Val::Null | Val::Bool(_) => Some(5),
        Val::Num(_) => Some(8),
        Val::BStr(text) | Val::TStr(text) => Some(text.len() + 2),
        Val::Arr(_) | Val::Obj(_) => None,
    };
    if let Some(size) = scalar(value) {
        return (size <= limit).then_some(size);
    }
    let mut left = limit;
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        let size = match value {
            Val::Arr(items) => {
                pending.extend(items.iter());
                items.len() + 2
            }
            Val::Obj(entries) => {
                for (key, value) in entries.iter() {
                    pending.push(key);
                    pending.push(value);
                }
                2 * entries.len() + 2
            }
            scalar_value => scalar(scalar_value).unwrap_or(0),
        };
        left = match left.checked_sub(size) {
            Some(left) if pending.len() <= limit / 8 => left,
            _ => return None,
        };
    }
    Some(limit - left)
}

fn too_big_to_compare() -> String {
    format!(
        "jq filter compared or sorted a value of more than {} MiB as text and was stopped",
        MAX_VALUE_BYTES >> 20
    )
}

/// Whether comparing, sorting or grouping `value` stays within [`MAX_VALUE_BYTES`] steps.
fn check_work_size(value: &jaq_json::Val) -> Result<(), String> {
    text_size_within(value, MAX_VALUE_BYTES)
        .map(|_| ())
        .ok_or_else(too_big_to_compare)
}

/// Whether comparing `left` with `right` stays within [`MAX_VALUE_BYTES`] steps: a
/// comparison stops at the end of the smaller value.
fn check_comparison(left: &jaq_json::Val, right: &jaq_json::Val) -> Result<(), String> {
    if text_size_within(left, MAX_VALUE_BYTES).is_some()
        || text_size_within(right, MAX_VALUE_BYTES).is_some()
    {
        return Ok(());
    }
    Err(too_big_to_compare())
}

/// Whether `haystack | contains(needle)` or `indices(needle)` stays within
/// [`MAX_SEARCH_WORK`]: either may compare each part of one with each part of the other.
/// Strings are searched as text, in time linear in their lengths.
fn check_search(haystack: &jaq_json::Val, needle: &jaq_json::Val) -> Result<(), String> {
    use jaq_json::Val::{BStr, TStr};
    if matches!(haystack, BStr(_) | TStr(_)) && matches!(needle, BStr(_) | TStr(_)) {
        return Ok(());
    }
    let limit = MAX_SEARCH_WORK as usize;
    let within = text_size_within(haystack, limit).and_then(|haystack_size| {
        text_size_within(needle, limit / haystack_size.max(1)).map(|_| ())
    });
    within.ok_or_else(|| {
        format!(
            "jq filter searched values too large for one step (sizes as text multiplied: more than {} MiB) and was stopped",
            MAX_SEARCH_WORK >> 20
        )
    })
}

/// `range($from; $upto; $by)` as jq-core has it, with a budget check per value.
fn bounded_range<'a, D: jaq_core::DataT>(
    mut cv: jaq_core::Cv<'a, D>,
) -> jaq_core::ValXs<'a, D::V<'a>>
where
    for<'b> D::V<'b>: jaq_core::ValT,
{
    use std::cmp::Ordering::{Equal, Greater, Less};
    let by = cv.0.pop_var();
    let to = cv.0.pop_var();
    let mut from: jaq_core::ValX<D::V<'a>> = Ok(cv.0.pop_var());
    let direction = by.partial_cmp(&0.into()).unwrap_or(Equal);
    Box::new(std::iter::from_fn(move || match from.clone() {
        Ok(x) => {
            let more = match direction {
                Greater => x < to,
                Less => x > to,
                Equal => x != to,
            };
            if !more {
                return None;
            }
            if let Err(message) = check_budget() {
                from = Ok(to.clone());
                return Some(Err(Exn::from(Error::str(message))));
            }
            from = (x.clone() + by.clone()).map_err(Exn::from);
            Some(Ok(x))
        }
        Err(error) => {
            from = Ok(to.clone());
            Some(Err(error))
        }
    }))
}

/// The running filter's budget (one run at a time per thread).
#[derive(Clone, Copy)]
struct Budget {
    deadline: Instant,
    stack_base: usize,
    time_limit: Duration,
    /// What this thread had allocated and not freed when the run started.
    allocated_base: isize,
}

thread_local! {
    static BUDGET: Cell<Option<Budget>> = const { Cell::new(None) };
    static TIME_LIMIT_OVERRIDE: Cell<Option<Duration>> = const { Cell::new(None) };
}

/// The environment variable an operator sets to change [`TIME_LIMIT`]: seconds, e.g. `5`
/// or `0.5` (docs/security.md).
pub const TIME_LIMIT_VARIABLE: &str = "CISGATE_JQ_TIME_LIMIT";

/// [`TIME_LIMIT`], or the operator's [`TIME_LIMIT_VARIABLE`]; read once per process.
pub fn time_limit() -> Result<Duration, String> {
    static LIMIT: std::sync::OnceLock<Result<Duration, String>> = std::sync::OnceLock::new();
    LIMIT
        .get_or_init(|| match std::env::var(TIME_LIMIT_VARIABLE) {
            Err(_) => Ok(TIME_LIMIT),
            Ok(text) => parse_time_limit(&text),
        })
        .clone()
}

fn parse_time_limit(text: &str) -> Result<Duration, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|seconds| seconds.is_finite() && *seconds > 0.0)
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .ok_or_else(|| {
            format!("{TIME_LIMIT_VARIABLE}={text:?} is not a positive number of seconds")
        })
}

/// Starts a run's budget on this thread; the budget ends when the guard drops. A bad
/// [`TIME_LIMIT_VARIABLE`] is each run's error.
pub fn start_run() -> Result<BudgetGuard, String> {
    let time_limit = match TIME_LIMIT_OVERRIDE.with(Cell::get) {
        Some(limit) => limit,
        None => time_limit()?,
    };
    let previous = BUDGET.with(|budget| {
        budget.replace(Some(Budget {
            deadline: Instant::now() + time_limit,
            stack_base: stack_position(),
            time_limit,
            allocated_base: allocated_by_this_thread(),
        }))
    });
    Ok(BudgetGuard { previous })
}

/// Restores the budget of an enclosing run, if any.
pub struct BudgetGuard {
    previous: Option<Budget>,
}

impl Drop for BudgetGuard {
    fn drop(&mut self) {
        BUDGET.with(|budget| budget.set(self.previous));
    }
}

/// A shorter time limit on this thread (tests).
#[cfg(test)]
pub fn set_time_limit_for_tests(limit: Duration) {
    TIME_LIMIT_OVERRIDE.with(|cell| cell.set(Some(limit)));
}

/// Budget checks between two readings of the clock: reading it costs more than the rest
/// of a check, and 64 checks take microseconds (a native step between two checks is
/// bounded by its own checks above).
const CHECKS_PER_CLOCK_READING: u32 = 64;

thread_local! {
    static CHECKS_SINCE_CLOCK: Cell<u32> = const { Cell::new(0) };
}

/// Whether this check reads the clock.
fn clock_due() -> bool {
    CHECKS_SINCE_CLOCK.with(|count| {
        let next = count.get() + 1;
        let due = next >= CHECKS_PER_CLOCK_READING;
        count.set(if due { 0 } else { next });
        due
    })
}

/// Whether the run may go on.
pub fn check_budget() -> Result<(), String> {
    let Some(budget) = BUDGET.with(Cell::get) else {
        return Ok(());
    };
    let used = budget.stack_base.saturating_sub(stack_position());
    if used > STACK_LIMIT {
        return Err(format!(
            "jq filter recursed too deeply (more than {} KiB of stack)",
            STACK_LIMIT >> 10
        ));
    }
    if clock_due() && Instant::now() > budget.deadline {
        return Err(format!(
            "jq filter ran longer than {} s and was stopped",
            budget.time_limit.as_secs_f64()
        ));
    }
    let grown = allocated_by_this_thread().saturating_sub(budget.allocated_base);
    if grown > MEMORY_LIMIT as isize {
        return Err(format!(
            "jq filter used more than {} MiB of memory and was stopped",
            MEMORY_LIMIT >> 20
        ));
    }
    Ok(())
}

/// How many bytes one run of one filter may allocate and keep (its thread's allocations
/// less its frees). A step that doubles a value can at most double this before the next
/// check.
pub const MEMORY_LIMIT: usize = 128 << 20;

thread_local! {
    /// Bytes this thread allocated less the bytes it freed (see [`CountingAllocator`]).
    static NET_ALLOCATED: Cell<isize> = const { Cell::new(0) };
}

fn allocated_by_this_thread() -> isize {
    NET_ALLOCATED.try_with(Cell::get).unwrap_or(0)
}

fn count_allocation(bytes: isize) {
    let _ = NET_ALLOCATED.try_with(|net| net.set(net.get().wrapping_add(bytes)));
}

/// The global allocator `A`, counting per thread the bytes allocated less those freed, so
/// that a jq run's memory is measured exactly and cheaply at every budget check (another
/// thread's allocations do not count against it).
pub struct CountingAllocator<A>(pub A);

// SAFETY: every method passes its arguments unchanged to the wrapped allocator and returns
// its result unchanged, so the wrapped allocator's guarantees hold. The bookkeeping only
// updates a const-initialised thread-local `Cell` without a destructor: it never
// allocates, never unwinds and is skipped (`try_with`) while the thread is torn down.
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAllocator<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        let pointer = unsafe { self.0.alloc(layout) };
        if !pointer.is_null() {
            count_allocation(layout.size() as isize);
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        let pointer = unsafe { self.0.alloc_zeroed(layout) };
        if !pointer.is_null() {
            count_allocation(layout.size() as isize);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc` is passed on unchanged.
        unsafe { self.0.dealloc(pointer, layout) };
        count_allocation(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc` is passed on unchanged.
        let moved = unsafe { self.0.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            count_allocation(new_size as isize - layout.size() as isize);
        }
        moved
    }
}

/// The stack grows down: the address of a local is how deep this call is.
#[inline(never)]
fn stack_position() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `filter` on `null` as the probes do: the bounded library, one budget.
    fn run(filter: &str) -> Result<Vec<String>, String> {
        use jaq_core::load::{Arena, File, Loader};
        let defs = program_defs(filter)?;
        let arena = Arena::default();
        let modules = Loader::new(defs)
            .load(
                &arena,
                File {
                    code: MAIN,
                    path: (),
                },
            )
            .map_err(|errors| format!("{errors:?}"))?;
        let filter = jaq_core::Compiler::default()
            .with_funs(library_funs())
            .compile(modules)
            .map_err(|errors| format!("{errors:?}"))?;
        let ctx = jaq_core::Ctx::<Data>::new(&filter.lut, jaq_core::Vars::new([]));
        let _budget = start_run()?;
        filter
            .id
            .run((ctx, jaq_json::Val::Null))
            .map(jaq_core::unwrap_valr)
            .map(|value| value.map(|v| v.to_string()).map_err(|e| e.to_string()))
            .collect()
    }

    #[test]
    fn the_operator_time_limit_reads_seconds() {
        assert_eq!(parse_time_limit("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_time_limit(" 0.25 "), Ok(Duration::from_millis(250)));
        for bad in ["", "0", "-1", "1e400", "NaN", "2s"] {
            let error = parse_time_limit(bad).unwrap_err();
            assert!(error.contains(TIME_LIMIT_VARIABLE), "{bad}: {error}");
        }
    }

    #[test]
    fn guarded_multiplication_and_interpolation_give_what_jq_gives() {
        // (outputs as jq 1.7 prints them: the right operand varies slowest)
        assert_eq!(run("[(1,2) * (10,20)]").unwrap(), ["[10,20,20,40]"]);
        // (jaq's own order for interpolation, which the guard keeps)
        assert_eq!(
            run(r#"["\(1,2)-\(3,4)"]"#).unwrap(),
            [r#"["1-3","1-4","2-3","2-4"]"#]
        );
        assert_eq!(
            run(r#""ab" * 3, 2 * "c", "x" * 0"#).unwrap(),
            [r#""ababab""#, r#""cc""#, "null"]
        );
        assert_eq!(
            run(r#"{"a": {"b": 1}} * {"a": {"c": 2}} | tojson"#).unwrap(),
            [r#""{\"a\":{\"b\":1,\"c\":2}}""#]
        );
        assert_eq!(
            run("[1, {a: null}] | tostring").unwrap(),
            [r#""[1,{\"a\":null}]""#]
        );
        assert_eq!(run("def f: 3; f").unwrap(), ["3"]);
    }

    #[test]
    fn one_step_that_would_allocate_too_much_is_an_error() {
        for filter in [
            r#""x" * 10000000000"#,
            r#"100000000000000000000000 * "xy""#,
            r#""abcd" as $s | 20000000 * $s | length"#,
        ] {
            let error = run(filter).unwrap_err();
            assert!(
                error.contains("repeat a string to more than 64 MiB"),
                "{filter}: {error}"
            );
        }
        // shared parts: 2^60 leaves in a few hundred bytes, as text an exabyte
        for filter in [
            "reduce range(60) as $i (0; [., .]) | tojson",
            "reduce range(60) as $i (0; [., .]) | tostring",
            r#"reduce range(60) as $i (0; [., .]) | "\(.)""#,
            "reduce range(60) as $i (0; [., .]) | @text",
            "reduce range(60) as $i (0; [., .]) | @base64",
        ] {
            let error = run(filter).unwrap_err();
            assert!(
                error.contains("more than 64 MiB as text"),
                "{filter}: {error}"
            );
        }
    }

    #[test]
    fn one_step_that_would_compare_or_search_too_much_is_an_error() {
        let shared = "reduce range(40) as $i (0; [., .])";
        for filter in [
            "sort",
            "sort_by(.)",
            "sort_by([.])",
            "group_by(.)",
            "unique",
            "unique_by(.)",
            "min",
            "max",
            "min_by(.)",
            "max_by(.)",
            ". < .",
            ". >= .",
            "[.] == [.]",
            "(0, .) != (1, .)",
            "[.] | bsearch([.][0])",
            "{a: .} as $o | $o * $o",
            "[1, 2] | sort_by($big)",
        ] {
            let filter = format!("{shared} as $big | {shared} | [., .] | {filter}");
            let error = run(&filter).unwrap_err();
            assert!(
                error.contains("compared or sorted a value of more than 64 MiB"),
                "{filter}: {error}"
            );
        }
        // two shared values built apart are not the same part: `==` walks both
        let apart = format!("{shared} as $a | {shared} | . == $a");
        assert!(run(&apart).unwrap_err().contains("64 MiB"), "{apart}");
        for filter in ["contains(.)", "inside(.)", "indices(.)", "index(.[0])"] {
            let filter = format!("{shared} | [., .] | {filter}");
            let error = run(&filter).unwrap_err();
            assert!(
                error.contains("searched values too large"),
                "{filter}: {error}"
            );
        }
        // quadratic without shared parts
        let error = run("[range(100000)] | contains([range(100000)])").unwrap_err();
        assert!(error.contains("searched values too large"), "{error}");
    }

    #[test]
    fn guarded_comparisons_and_sorts_give_what_jaq_gives() {
        // (jaq's order: the left operand's outputs vary slowest)
        assert_eq!(run("[(1,3) < (2,4)]").unwrap(), ["[true,true,false,true]"]);
        assert_eq!(
            run(r#"[1 == 1.0, "a" < "b", [] < {}, {"a":1} == {"a":1}, null != false, 2 >= 3, 2 <= 2, 3 > 2]"#)
                .unwrap(),
            ["[true,true,true,true,true,false,true,true]"]
        );
        assert_eq!(
            run(r#"[3,1,2] | sort, sort_by(-.), group_by(. % 2), unique, min, max, bsearch(2)"#)
                .unwrap(),
            [
                "[1,2,3]",
                "[3,2,1]",
                "[[2],[3,1]]",
                "[1,2,3]",
                "1",
                "3",
                "2"
            ]
        );
        assert_eq!(
            run(r#"[{"a":2,"b":1},{"a":1,"b":2}] | min_by(.a).b, max_by(.a).b, (unique_by(.a) | length)"#)
                .unwrap(),
            ["2", "1", "2"]
        );
        assert_eq!(
            run(r#"["ab","c"] | contains(["a"]), inside(["ab","c","d"]), indices("c"), ("abcb" | indices("b")), ("foobar" | contains("bar"))"#)
                .unwrap(),
            ["true", "true", "[1]", "[1,3]", "true"]
        );
        assert_eq!(
            run("[1,[2]] | index([2]), ([1,2,1] | indices(1))").unwrap(),
            ["null", "[0,2]"]
        );
    }

    #[test]
    fn filters_may_not_call_the_guarded_natives_themselves() {
        for filter in [
            "__cisgate_sort",
            "[1] | __cisgate_tojson",
            r#""\(__cisgate_lt(1; 2))""#,
        ] {
            let error = run(filter).unwrap_err();
            assert!(error.contains("reserved"), "{filter}: {error}");
        }
    }

    #[test]
    fn memory_a_run_keeps_is_counted_on_its_thread() {
        let error = run(r#""x" | until(length > 1e12; . + .) | length"#).unwrap_err();
        assert!(error.contains("128 MiB of memory"), "{error}");
        for filter in [
            r#"[range(1e9) | "\(.)" * 1000] | length"#,
            r#"[range(64)] | reduce .[] as $x ("x"; . + .) | length"#,
            "[range(64)] | foreach .[] as $x ([0]; . + .; length) | select(. < 0)",
            &format!(
                r#"reduce range(40) as $i ("x"; [., .]) | [{} | . * 1000] | length"#,
                ".[]".repeat(40)
            ),
        ] {
            let error = run(filter).unwrap_err();
            assert!(error.contains("128 MiB of memory"), "{filter}: {error}");
        }
        // what was allocated before the run does not count
        let kept = vec![0u8; MEMORY_LIMIT + 1];
        assert_eq!(run("[range(1000)] | length").unwrap(), ["1000"]);
        drop(kept);
    }
}
