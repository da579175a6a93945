//! Locking shared caches and memos.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, poisoned or not. Every cache and memo here inserts its entries whole,
/// so a thread that panicked while holding the lock left it valid.
pub fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
