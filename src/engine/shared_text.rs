//! Texts that every node's results repeat — expected results and probe descriptions,
//! which come from the definitions — kept once for the whole run. A fleet's results then
//! grow by what differs per node, not by a copy of the same sentence per node and check.

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use arcstr::ArcStr;

use crate::sync::locked;

/// Node-derived texts are keys here: a randomly seeded hasher, faster than SipHash.
type TextSet = HashSet<ArcStr, foldhash::quality::RandomState>;

thread_local! {
    /// This thread's view of the run's texts: after the first nodes, every lookup is
    /// answered here, without the process-wide lock (which took 6.5% of a fleet scan).
    static SEEN: RefCell<TextSet> = RefCell::new(TextSet::default());
}

/// The run's one copy of `text`.
pub fn shared(text: &str) -> ArcStr {
    if let Some(known) = SEEN.with(|seen| seen.borrow().get(text).cloned()) {
        return known;
    }
    let known = shared_by_all(text);
    SEEN.with(|seen| seen.borrow_mut().insert(known.clone()));
    known
}

/// The process-wide copy, asked once per thread and text.
fn shared_by_all(text: &str) -> ArcStr {
    static TEXTS: OnceLock<Mutex<TextSet>> = OnceLock::new();
    let mut texts = locked(TEXTS.get_or_init(Default::default));
    if let Some(known) = texts.get(text) {
        return known.clone();
    }
    let text = ArcStr::from(text);
    texts.insert(text.clone());
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_share_one_allocation() {
        let first = shared("'--profiling' is equal to 'false'");
        let second = shared(&String::from("'--profiling' is equal to 'false'"));
        assert!(ArcStr::ptr_eq(&first, &second));
        assert!(!ArcStr::ptr_eq(&first, &shared("something else")));
    }

    #[test]
    fn threads_share_one_copy_too() {
        let here = shared("'--anonymous-auth' is equal to 'false'");
        let there = std::thread::spawn(|| shared("'--anonymous-auth' is equal to 'false'"))
            .join()
            .unwrap();
        assert!(ArcStr::ptr_eq(&here, &there));
    }
}
