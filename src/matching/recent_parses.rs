//! The last few parses of a thread, reused when the same text comes again: a node's checks
//! look many keys up in one audit output, and the nodes of a cluster often share a
//! configuration text (kubeadm writes the kubelet's from one ConfigMap).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::thread::LocalKey;

/// How many parses a cache keeps.
const KEPT: usize = 4;

/// One thread's recent parses: `(text, parsed)`, most recent first.
pub type RecentParses<T> = RefCell<VecDeque<(String, T)>>;

/// The parse of `text` from `recent`, or `parse(text)` kept there for next time. Errors
/// are not kept.
pub fn parse_or_reuse<T: Clone, E>(
    recent: &'static LocalKey<RecentParses<T>>,
    text: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, E> {
    let known = recent.with_borrow(|recent| {
        recent
            .iter()
            .find(|(seen, _)| seen == text)
            .map(|(_, parsed)| parsed.clone())
    });
    if let Some(parsed) = known {
        return Ok(parsed);
    }
    let parsed = parse(text)?;
    recent.with_borrow_mut(|recent| {
        if recent.len() == KEPT {
            recent.pop_back();
        }
        recent.push_front((text.to_owned(), parsed.clone()));
    });
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static LENGTHS: RecentParses<usize> = const { RefCell::new(VecDeque::new()) };
    }

    #[test]
    fn a_text_seen_again_is_not_parsed_again_and_old_ones_are_forgotten() {
        let mut parses = 0;
        let mut length = |text: &str| {
            parse_or_reuse(&LENGTHS, text, |t| {
                parses += 1;
                Ok::<_, ()>(t.len())
            })
        };
        assert_eq!(length("abc"), Ok(3));
        assert_eq!(length("abc"), Ok(3));
        for text in ["a", "bb", "ccc", "dddd"] {
            length(text).unwrap();
        }
        assert_eq!(length("abc"), Ok(3));
        assert_eq!(parses, 6, "abc parsed again once four others pushed it out");
    }
}
