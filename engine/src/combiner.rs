//! A queue of work run by one thread at a time: a flat combiner.
//!
//! Session layers (`appc-io`'s `TcpNode`) get events on many threads (the
//! TPs' threads calling into a session, reactor threads delivering bytes)
//! and must hand their work to the engine, or to their own state, in the
//! order it was made, without a thread of their own in between (each
//! hand-off is a wake-up, tens of microseconds on a VM). A [`Combiner`] is
//! that hand-off done in place: every thread pushes its work; the one that
//! finds the queue idle becomes its *runner* and runs batches until the
//! queue is empty, including whatever other threads pushed meanwhile;
//! those return at once. Under load one thread runs many items per wake-up.
//!
//! # Contract
//!
//! * Every item pushed is passed to a runner exactly once (unless a runner
//!   panics: the rest of its batch is dropped and the queue becomes idle).
//! * Items are run in push order, and batches never overlap: at most one
//!   runner at a time.
//! * [`Combiner::push`] returning `true` makes the caller responsible for
//!   one call of [`Combiner::run`] (on its own thread or, if it must not
//!   run the items itself, on a thread it wakes for that).
//!
//! # Ordering
//!
//! One mutex holds the items and the `running` flag, so there is no race
//! to reason about beyond the mutex: the runner clears `running` only while
//! holding it and only when it finds no item, so an item pushed just
//! before is seen by that runner, and one pushed just after finds the
//! queue idle and makes its pusher the next runner. The model is
//! `loom-tests/tests/combiner.rs` (both outcomes of that race occur). A
//! caller that needs its items ordered against other state pushes while it
//! holds that state's lock (lock order: that lock, then the combiner's).

use crate::sync::{lock, Mutex};

/// A queue of `T` run by one thread at a time; see the module docs.
#[derive(Debug)]
pub struct Combiner<T> {
    queue: Mutex<Queue<T>>,
}

#[derive(Debug)]
struct Queue<T> {
    items: Vec<T>,
    running: bool,
}

impl<T> Default for Combiner<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Combiner<T> {
    /// An idle, empty queue.
    pub fn new() -> Self {
        Self {
            queue: Mutex::new(Queue {
                items: Vec::new(),
                running: false,
            }),
        }
    }

    /// Queues `items` after everything queued before. True when the queue
    /// was idle and `items` was not empty: the caller is now the runner and
    /// must see [`run`](Self::run) called once.
    pub fn push(&self, items: impl IntoIterator<Item = T>) -> bool {
        let mut queue = lock(&self.queue);
        let before = queue.items.len();
        queue.items.extend(items);
        if queue.running || queue.items.len() == before {
            return false;
        }
        queue.running = true;
        true
    }

    /// For the runner: passes what is queued to `batch`, a batch at a time
    /// in push order, until the queue is empty; then the queue is idle (the
    /// next push makes a new runner). If `batch` panics, the queue becomes
    /// idle as it unwinds.
    pub fn run(&self, mut batch: impl FnMut(Vec<T>)) {
        struct Idle<'a, T>(&'a Combiner<T>);
        impl<T> Drop for Idle<'_, T> {
            fn drop(&mut self) {
                lock(&self.0.queue).running = false;
            }
        }
        let idle = Idle(self);
        loop {
            let items = {
                let mut queue = lock(&self.queue);
                if queue.items.is_empty() {
                    queue.running = false;
                    std::mem::forget(idle);
                    return;
                }
                std::mem::take(&mut queue.items)
            };
            batch(items);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_first_pusher_runs_everything_in_order() {
        let combiner = Combiner::new();
        assert!(!combiner.push([]), "nothing to run");
        assert!(combiner.push([1, 2]));
        assert!(!combiner.push([3]), "a runner is due");
        let mut seen = Vec::new();
        combiner.run(|batch| {
            if batch == [1, 2, 3] {
                assert!(!combiner.push([4]), "still running");
            }
            seen.extend(batch);
        });
        assert_eq!(seen, [1, 2, 3, 4]);
        assert!(combiner.push([5]), "idle again");
    }

    #[test]
    fn a_panicking_runner_leaves_the_queue_idle() {
        let combiner = Combiner::new();
        assert!(combiner.push([1]));
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            combiner.run(|_| panic!("a step failed"))
        }));
        assert!(unwound.is_err());
        assert!(combiner.push([2]), "a new runner");
    }
}
