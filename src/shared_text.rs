//! Texts that every node's results repeat — the checks' ids, titles and remediations,
//! expected results and probe descriptions — kept once for the whole run. A fleet's
//! results then grow by what differs per node, not by a copy of the same sentence per node
//! and check. The definitions read their texts through here and the engine its derived
//! ones, so a benchmark loaded again (each test, each `--config-dir` scan) adds nothing.
//!
//! The process-wide set is never emptied, so its texts live as long as the process, and
//! each is marked so ([`ArcStr::leak`]): cloning or dropping one is then a plain copy. A
//! counted `ArcStr` is an atomic add on a cache line every core writes, once per field of
//! every check result, which was 6% of a quiet fleet scan's CPU on two cores.

use std::cell::RefCell;
use std::hash::BuildHasher;
use std::sync::{Mutex, OnceLock};

use arcstr::ArcStr;
use hashbrown::HashTable;

use crate::sync::locked;

/// Node-derived texts are keys here: a randomly seeded hasher, faster than SipHash. One
/// seed for the process, so a text is hashed once and looked up with that hash in both sets.
fn hasher() -> &'static foldhash::quality::RandomState {
    static HASHER: OnceLock<foldhash::quality::RandomState> = OnceLock::new();
    HASHER.get_or_init(Default::default)
}

fn hash_of(text: &str) -> u64 {
    hasher().hash_one(text)
}

/// Room for a benchmark's texts (cis-1.12 has ~440) and what its checks derive, without
/// growing step by step.
const FIRST_CAPACITY: usize = 1024;

thread_local! {
    /// This thread's view of the run's texts: after the first nodes, every lookup is
    /// answered here, without the process-wide lock (which took 6.5% of a fleet scan).
    static SEEN: RefCell<HashTable<ArcStr>> = RefCell::new(HashTable::with_capacity(FIRST_CAPACITY));
}

/// The run's one copy of `text`.
pub fn shared(text: &str) -> ArcStr {
    let hash = hash_of(text);
    SEEN.with_borrow_mut(|seen| {
        if let Some(known) = seen.find(hash, |known| **known == *text) {
            return known.clone();
        }
        let known = shared_by_all(text, hash);
        seen.insert_unique(hash, known.clone(), |known| hash_of(known));
        known
    })
}

/// The process-wide copy, asked once per thread and text.
fn shared_by_all(text: &str, hash: u64) -> ArcStr {
    static TEXTS: OnceLock<Mutex<HashTable<ArcStr>>> = OnceLock::new();
    let mut texts =
        locked(TEXTS.get_or_init(|| Mutex::new(HashTable::with_capacity(FIRST_CAPACITY))));
    if let Some(known) = texts.find(hash, |known| **known == *text) {
        return known.clone();
    }
    let text = ArcStr::from(text);
    text.leak();
    texts.insert_unique(hash, text.clone(), |known| hash_of(known));
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
    fn shared_texts_are_not_counted() {
        let text = shared(&format!("remediation {}", std::process::id()));
        assert!(ArcStr::is_static(&text));
        assert!(ArcStr::is_static(&text.clone()));
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
