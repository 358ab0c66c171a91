//! A count of active operations and a request to end once none is left,
//! decided without a lock. The APPC layer's `TP_ENDED(AP_SOFT)` waits this
//! way for the verbs waiting on a TP's conversations: the race between the
//! soft end and the last of them is the protocol below.
//!
//! # Protocol
//!
//! * A verb that starts waiting takes an [`Active`] ([`Activity::begin`]:
//!   `active += 1`); dropping it when the verb finishes, however it
//!   finishes, is `active -= 1`.
//! * The soft end calls [`Activity::request_end`]: it sets `ending` (a
//!   swap), then loads `active`; if that is 0 it may end the TP itself.
//! * The verb whose drop takes `active` from 1 to 0 then loads `ending`; if
//!   set, it may end the TP, through the `on_idle` callback (it runs with a
//!   conversation locked, so the node only schedules the end there).
//!
//! The two sides are a Dekker pair: RMW-then-load on each side, all
//! `SeqCst`. In the single total order of `SeqCst` operations, either the
//! ender's load of `active` comes after the last decrement (and sees 0) or
//! the decrementer's load of `ending` comes after the ender's swap (and
//! sees it); both may. `claimed` (a swap) lets
//! exactly one of them end the TP. A verb that begins after the end was
//! requested counts as usual; the TP's end cancels it.
//!
//! `loom-tests/tests/soft_end.rs` explores both orders and asserts one end.

use crate::sync::{after_seq_cst_rmw, Arc, AtomicBool, AtomicUsize, Ordering::SeqCst};

/// A TP's active-verb count and soft-end request.
pub struct Activity {
    active: AtomicUsize,
    ending: AtomicBool,
    claimed: AtomicBool,
    on_idle: Box<dyn Fn() + Send + Sync>,
}

impl Activity {
    /// A TP with no active verb; `on_idle` runs at most once, when the last
    /// active verb of an ending TP finishes (and the end has not already
    /// been claimed by [`Activity::request_end`]).
    pub fn new(on_idle: impl Fn() + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            active: AtomicUsize::new(0),
            ending: AtomicBool::new(false),
            claimed: AtomicBool::new(false),
            on_idle: Box::new(on_idle),
        })
    }

    /// Counts one more active verb until the returned guard is dropped.
    pub fn begin(this: &Arc<Self>) -> Active {
        this.active.fetch_add(1, SeqCst);
        Active(this.clone())
    }

    /// The soft end: true if the caller ends the TP now (no verb is
    /// active); false if the last active verb will, through `on_idle`.
    pub fn request_end(&self) -> bool {
        // A swap rather than a store, so that both sides are RMW-then-load
        // (see `after_seq_cst_rmw` for why that matters under loom).
        self.ending.swap(true, SeqCst);
        after_seq_cst_rmw();
        self.active.load(SeqCst) == 0 && self.claim()
    }

    fn claim(&self) -> bool {
        !self.claimed.swap(true, SeqCst)
    }
}

impl std::fmt::Debug for Activity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Activity")
            .field("active", &self.active.load(SeqCst))
            .field("ending", &self.ending.load(SeqCst))
            .finish_non_exhaustive()
    }
}

/// One active verb of a TP.
#[derive(Debug)]
pub struct Active(Arc<Activity>);

impl Drop for Active {
    fn drop(&mut self) {
        let tp = &self.0;
        let last = tp.active.fetch_sub(1, SeqCst) == 1;
        after_seq_cst_rmw();
        if last && tp.ending.load(SeqCst) && tp.claim() {
            (tp.on_idle)();
        }
    }
}
