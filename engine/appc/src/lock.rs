//! Locks that ignore poisoning: every critical section of this crate leaves
//! its data consistent before anything that could panic runs, so a panic
//! elsewhere (a caller's blocking hook, say) must not make the conversation
//! or the node unusable.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, ignoring poisoning.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
