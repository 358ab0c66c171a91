//! Work waiting to run, found by a cheap check: a list under a lock, and a
//! flag that lets whoever runs it skip the lock when the list is empty.
//! The APPC layer keeps its soft TP ends here: the last active verb of an
//! ending TP finishes inside a conversation's critical section, where the
//! end cannot run, so it is pushed and run after.
//!
//! # Protocol
//!
//! * [`Deferred::push`] (for the APPC layer: the
//!   [`Activity`](crate::activity::Activity) callback, on whatever thread
//!   finished a TP's last active verb) pushes under the lock, then sets
//!   `pending`.
//! * [`Deferred::pop`] (the APPC node, after every verb and delivery) loads
//!   `pending` without the lock; if set, it pops under the lock and clears
//!   `pending` when that empties the list.
//!
//! `pending` changes only under the lock, after the list does, so it is
//! never false while the list holds a TP pushed before that store; every
//! access is `SeqCst`, so a pop that begins after a push completed sees
//! it. A pop racing a push may miss it: the TP waits for the next pop, as
//! it did when every pop took the lock and found the pusher holding it.
//! `loom-tests/tests/deferred.rs` checks that each pushed item is popped
//! exactly once when the pusher pops after pushing (as the APPC node does),
//! by the pusher or by a racing pop.

use crate::sync::{lock, AtomicBool, Mutex, Ordering::SeqCst};

/// Work waiting to run (see the module docs). Without the flag every pop
/// takes the lock, which all the pushing and popping threads share; with
/// it a pop reads one flag that changes only when something waits.
#[derive(Debug)]
pub struct Deferred<T> {
    pending: AtomicBool,
    items: Mutex<Vec<T>>,
}

impl<T> Default for Deferred<T> {
    fn default() -> Self {
        Self {
            pending: AtomicBool::new(false),
            items: Mutex::new(Vec::new()),
        }
    }
}

impl<T> Deferred<T> {
    /// Queues `item`.
    pub fn push(&self, item: T) {
        let mut items = lock(&self.items);
        items.push(item);
        self.pending.store(true, SeqCst);
    }

    /// The next item to run, if any. Inlined: most pops find the flag
    /// clear.
    #[inline]
    pub fn pop(&self) -> Option<T> {
        if !self.pending.load(SeqCst) {
            return None;
        }
        self.pop_locked()
    }

    #[cold]
    #[inline(never)]
    fn pop_locked(&self) -> Option<T> {
        let mut items = lock(&self.items);
        let item = items.pop();
        if items.is_empty() {
            self.pending.store(false, SeqCst);
        }
        item
    }
}
