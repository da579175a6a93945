//! Locking shared caches and memos.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, poisoned or not. Every cache and memo here inserts its entries whole,
/// so a thread that panicked while holding the lock left it valid.
pub fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How many API objects make a list worth freeing on a thread of its own.
const DROP_ASIDE_FROM: usize = 1024;

/// Drops `value`, which holds `objects` API objects, on a thread of its own when they are
/// many. Freeing a cluster's parsed API objects (hundreds of thousands of small
/// allocations) took a tenth of a section 5 scan; this way the scan does not wait for it,
/// and a process that exits first frees everything at once.
pub fn drop_aside<T: Send + 'static>(objects: usize, value: T) {
    if objects < DROP_ASIDE_FROM {
        return;
    }
    // a thread that cannot be started drops the value with the closure, here
    let _ = std::thread::Builder::new()
        .name("drop-aside".into())
        .spawn(move || drop(value));
}
