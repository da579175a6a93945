//! Bounds on the jq filters of benchmark files (trusted but checked, docs/security.md).
//!
//! - At load, a filter that names what reaches outside the filter is refused: `halt`,
//!   `halt_error` (would end the run, `halt` with exit 0), `env` and `$ENV` (the scanner's
//!   environment), `input`, `inputs`, `input_filename`, `$__loc__`, `debug`, `stderr`.
//!   Those filters are also left out of the compiled library, so no spelling reaches them.
//! - While running, every call of a defined function (the standard library's and the
//!   filter's own) and every value `range` produces passes a budget check: a wall-clock
//!   limit per run ([`TIME_LIMIT`]) and a recursion limit measured as stack used
//!   ([`STACK_LIMIT`]), and every 4096th check the growth of the process's resident
//!   memory ([`MEMORY_LIMIT`]). The outputs are counted and measured in the run's loop
//!   ([`MAX_OUTPUTS`], [`MAX_OUTPUT_BYTES`]). Past any bound the run stops with an error:
//!   that check is ERROR.

use std::cell::Cell;
use std::time::{Duration, Instant};

use jaq_core::box_iter::box_once;
use jaq_core::load::lex::{StrPart, Tok, Token};
use jaq_core::load::parse::{BinaryOp, Def, Term};
use jaq_core::native::{v, Fun};
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

/// The native function every defined function calls first.
const TICK: &str = "__cisgate_budget";

/// The filter with a budget check at the start of each of its own function bodies
/// (`def f: BODY;` becomes `def f: __cisgate_budget | BODY;`).
pub fn with_budget_checks(filter: &str) -> String {
    let Ok(tokens) = jaq_core::load::Lexer::new(filter).lex() else {
        return filter.to_owned(); // the loader reports the syntax error
    };
    let mut offsets = Vec::new();
    def_body_offsets(filter, &tokens, &mut offsets);
    offsets.sort_unstable();
    let mut out = filter.to_owned();
    for offset in offsets.into_iter().rev() {
        out.insert_str(offset, &format!(" {TICK} |"));
    }
    out
}

fn def_body_offsets(whole: &str, tokens: &[Token<&str>], offsets: &mut Vec<usize>) {
    for (index, Token(text, kind)) in tokens.iter().enumerate() {
        match kind {
            Tok::Word if *text == "def" => {
                let colon = tokens[index + 1..]
                    .iter()
                    .find(|Token(text, kind)| matches!(kind, Tok::Sym) && *text == ":");
                if let Some(Token(colon, _)) = colon {
                    offsets.push(jaq_core::load::span(whole, colon).end);
                }
            }
            Tok::Block(inner) => def_body_offsets(whole, inner, offsets),
            Tok::Str(parts) => {
                for part in parts {
                    if let StrPart::Term(token) = part {
                        def_body_offsets(whole, std::slice::from_ref(token), offsets);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The standard library without the forbidden filters, each definition's body starting
/// with the budget check.
pub fn library_defs() -> impl Iterator<Item = Def<&'static str>> {
    jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs())
        .filter(|def| !FORBIDDEN.contains(&def.name))
        .map(with_budget_check)
}

/// The definition with the budget check first in its body and in every definition
/// nested in it (`def repeat(f): def rec: f, rec; rec;` recurses through `rec`).
fn with_budget_check(mut def: Def<&'static str>) -> Def<&'static str> {
    add_nested_checks(&mut def.body);
    let body = std::mem::take(&mut def.body);
    def.body = Term::BinOp(
        Box::new(Term::Call(TICK, Vec::new())),
        BinaryOp::Pipe(None),
        Box::new(body),
    );
    def
}

fn add_nested_checks(term: &mut Term<&'static str>) {
    let visit = add_nested_checks;
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
                visit(inner)
            }
        }),
        Term::Arr(Some(inner))
        | Term::Neg(inner)
        | Term::Label(_, inner)
        | Term::TryCatch(inner, None) => visit(inner),
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
            visit(inner);
            args.iter_mut().for_each(visit);
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

/// The native filters without the forbidden ones, `range/3` counting its values, and the
/// budget check itself.
pub fn library_funs() -> impl Iterator<Item = Fun<Data>> {
    let budget: Fun<Data> = (
        TICK,
        v(0),
        Native::new(|cv| match check_budget() {
            Ok(()) => box_once(Ok(cv.1)),
            Err(message) => box_once(Err(Exn::from(Error::str(message)))),
        })
        .with_paths(|cv| match check_budget() {
            Ok(()) => box_once(Ok(cv.1)),
            Err(message) => box_once(Err(Exn::from(Error::str(message)))),
        })
        // updating `.` with `f` is `f` (`del(f)`, `f |= g` go through here)
        .with_update(|cv, update| match check_budget() {
            Ok(()) => update(cv.1),
            Err(message) => box_once(Err(Exn::from(Error::str(message)))),
        }),
    );
    let range: Fun<Data> = (
        "range",
        v(3),
        Native::<Data>::new(bounded_range::<Data> as jaq_core::RunPtr<Data>),
    );
    jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs())
        .filter(|(name, args, _)| {
            let replaced = *name == "range" && args.len() == 3;
            !(FORBIDDEN.contains(name) || replaced)
        })
        .chain([budget, range])
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
    /// The process's resident memory when the run started (0: unknown).
    memory_base: u64,
}

thread_local! {
    static BUDGET: Cell<Option<Budget>> = const { Cell::new(None) };
    static CHECKS: Cell<u32> = const { Cell::new(0) };
    static TIME_LIMIT_OVERRIDE: Cell<Option<Duration>> = const { Cell::new(None) };
}

/// Starts a run's budget on this thread; the budget ends when the guard drops.
pub fn start_run() -> BudgetGuard {
    let time_limit = TIME_LIMIT_OVERRIDE.with(Cell::get).unwrap_or(TIME_LIMIT);
    let previous = BUDGET.with(|budget| {
        budget.replace(Some(Budget {
            deadline: Instant::now() + time_limit,
            stack_base: stack_position(),
            time_limit,
            memory_base: resident_bytes(),
        }))
    });
    BudgetGuard { previous }
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
    if Instant::now() > budget.deadline {
        return Err(format!(
            "jq filter ran longer than {} s and was stopped",
            budget.time_limit.as_secs_f64()
        ));
    }
    // Memory costs a read of /proc: every 4096th check (`[range(1e9)]` grows by
    // megabytes between two reads, not gigabytes).
    let checks = CHECKS.with(|checks| {
        let next = checks.get().wrapping_add(1);
        checks.set(next);
        next
    });
    if checks.is_multiple_of(4096) && budget.memory_base > 0 {
        let grown = resident_bytes().saturating_sub(budget.memory_base);
        if grown > MEMORY_LIMIT {
            return Err(format!(
                "jq filter used more than {} MiB of memory and was stopped",
                MEMORY_LIMIT >> 20
            ));
        }
    }
    Ok(())
}

/// How much the process's resident memory may grow during one run of one filter.
pub const MEMORY_LIMIT: u64 = 1 << 30;

/// The process's resident memory (`/proc/self/statm`), 0 where unknown.
fn resident_bytes() -> u64 {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|pages| pages.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page_size).unwrap_or(4096)
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

    #[test]
    fn every_own_function_body_gets_a_budget_check() {
        assert_eq!(
            with_budget_checks("def f: f; def g(x): [x]; f"),
            format!("def f: {TICK} | f; def g(x): {TICK} | [x]; f")
        );
        assert_eq!(with_budget_checks(".a"), ".a");
    }
}
