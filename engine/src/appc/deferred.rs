//! The soft TP ends waiting to run: a list under a lock, and a flag that
//! lets the node skip the lock when the list is empty.
//!
//! # Protocol
//!
//! * [`Deferred::push`] (the [`Activity`](super::activity::Activity)
//!   callback, on whatever thread finished a TP's last active verb) pushes
//!   under the lock, then sets `pending`.
//! * [`Deferred::pop`] (the node's `run_deferred`, after every verb and
//!   delivery) loads `pending` without the lock; if set, it pops under the
//!   lock and clears `pending` when that empties the list.
//!
//! `pending` changes only under the lock, after the list does, so it is
//! never false while the list holds a TP pushed before that store; every
//! access is `SeqCst`, so a pop that begins after a push completed sees
//! it. A pop racing a push may miss it: the TP waits for the next pop, as
//! it did when every pop took the lock and found the pusher holding it.
//! `loom-tests/tests/deferred.rs` checks that each pushed TP is popped
//! exactly once when the pusher pops after pushing (as the node does), by
//! the pusher or by a racing pop.

use super::verbs::TpId;
use crate::sync::{lock, AtomicBool, Mutex, Ordering::SeqCst};

/// The soft TP ends waiting to run (see the module docs). Without the flag
/// every verb and delivery took this one lock, shared by all the node's TP
/// threads and reactors (8% of the cancelling threads' profile samples in
/// `appc-load --mode scale`); with it they read one flag that changes only
/// when a soft end waits.
#[derive(Debug, Default)]
pub struct Deferred {
    pending: AtomicBool,
    tps: Mutex<Vec<TpId>>,
}

impl Deferred {
    /// Queues `tp_id`'s end (the [`Activity`](super::activity::Activity)
    /// callback).
    pub fn push(&self, tp_id: TpId) {
        let mut tps = lock(&self.tps);
        tps.push(tp_id);
        self.pending.store(true, SeqCst);
    }

    /// The next end to run, if any.
    pub fn pop(&self) -> Option<TpId> {
        if !self.pending.load(SeqCst) {
            return None;
        }
        let mut tps = lock(&self.tps);
        let tp_id = tps.pop();
        if tps.is_empty() {
            self.pending.store(false, SeqCst);
        }
        tp_id
    }
}
