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
//!
//! Some of the texts come from nodes (a decisive flag value, a config file's path), and a
//! hostile fleet can make every one of them different. The set therefore keeps at most
//! [`KEPT_BYTES`] of text. Past that, a new text gets its own counted copy, which is freed
//! with the results that hold it.

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

/// The most text the process-wide set keeps. Every embedded benchmark's texts together
/// are under a megabyte (build.rs's compiled form of all of them is 0.5 MB), and a fleet
/// that shares its configuration adds little to that.
pub const KEPT_BYTES: usize = 16 << 20;

thread_local! {
    /// This thread's view of the run's texts: after the first nodes, every lookup is
    /// answered here, without the process-wide lock (which took 6.5% of a fleet scan).
    static SEEN: RefCell<HashTable<ArcStr>> = RefCell::new(HashTable::with_capacity(FIRST_CAPACITY));
}

/// The run's one copy of `text` (a copy of its own once the process-wide set is full).
pub fn shared(text: &str) -> ArcStr {
    let hash = hash_of(text);
    SEEN.with_borrow_mut(|seen| {
        if let Some(known) = seen.find(hash, |known| **known == *text) {
            return known.clone();
        }
        match kept_by_all(text, hash) {
            Some(known) => {
                seen.insert_unique(hash, known.clone(), |known| hash_of(known));
                known
            }
            None => ArcStr::from(text),
        }
    })
}

/// The process-wide copy, asked once per thread and text.
fn kept_by_all(text: &str, hash: u64) -> Option<ArcStr> {
    static KEPT: OnceLock<Mutex<Kept>> = OnceLock::new();
    locked(KEPT.get_or_init(|| Mutex::new(Kept::new(KEPT_BYTES)))).get_or_keep(text, hash)
}

/// The process-wide texts and how many bytes of text they hold.
struct Kept {
    texts: HashTable<ArcStr>,
    bytes: usize,
    limit: usize,
}

impl Kept {
    fn new(limit: usize) -> Kept {
        Kept {
            texts: HashTable::with_capacity(FIRST_CAPACITY),
            bytes: 0,
            limit,
        }
    }

    /// The kept copy of `text`, kept now if there is room. `None` when the set is full and
    /// does not hold it.
    fn get_or_keep(&mut self, text: &str, hash: u64) -> Option<ArcStr> {
        if let Some(known) = self.texts.find(hash, |known| **known == *text) {
            return Some(known.clone());
        }
        if self.bytes + text.len() > self.limit {
            return None;
        }
        let kept = ArcStr::from(text);
        kept.leak();
        self.texts
            .insert_unique(hash, kept.clone(), |known| hash_of(known));
        self.bytes += text.len();
        Some(kept)
    }
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
    fn a_full_set_keeps_what_it_has_and_no_more() {
        let mut kept = Kept::new(10);
        let first = kept.get_or_keep("12345", hash_of("12345")).unwrap();
        assert!(ArcStr::is_static(&first));
        assert!(kept.get_or_keep("67890", hash_of("67890")).is_some());
        assert_eq!(kept.get_or_keep("x", hash_of("x")), None, "over the limit");
        let again = kept.get_or_keep("12345", hash_of("12345")).unwrap();
        assert!(
            ArcStr::ptr_eq(&first, &again),
            "what it holds is still shared"
        );
        assert_eq!(kept.bytes, 10);
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
