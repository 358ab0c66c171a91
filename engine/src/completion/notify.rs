//! Sleeping until an event is signalled: an event count. (The message
//! queues and ports have their own sleep protocol, folded into their head
//! word: see [`super::intrusive`]; both start with [`spin`].)
//!
//! The fast paths are lock-free; this is only for a waiter that finds
//! nothing and wants to block. It first spins briefly (a completion is often
//! microseconds away, and a futex sleep and wake costs more than that), then
//! sleeps. [`Event::set`](super::Event::set) calls [`Notify::notify`] after
//! making the signal visible; it takes the lock only if someone sleeps.
//!
//! Ordering: the producer makes the item visible with a `SeqCst`
//! read-modify-write, then loads `sleepers` (`SeqCst`); the consumer does
//! `sleepers += 1; fence(SeqCst); look for an item`. In the `SeqCst` order
//! either the producer's load sees the sleeper (and takes the lock, which the
//! sleeper holds until it waits, before notifying) or the fence comes after the
//! producer's RMW and the sleeper sees the item. No wake-up is lost, and the
//! producer's fast path has no fence of its own.

use crate::sync::{
    after_seq_cst_rmw, fence, lock, AtomicUsize, Condvar, Mutex, MutexGuard, Ordering::*,
};
use std::time::{Duration, Instant};

pub(crate) struct Notify {
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    cond: Condvar,
}

impl Notify {
    #[inline]
    pub(crate) fn new() -> Self {
        Self {
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            cond: Condvar::new(),
        }
    }

    /// Call after an item became visible through a `SeqCst` RMW.
    #[inline]
    pub(crate) fn notify(&self) {
        after_seq_cst_rmw();
        if self.sleepers.load(SeqCst) != 0 {
            drop(lock(&self.lock));
            self.cond.notify_all();
        }
    }

    /// Returns the first `Some` of `poll`, sleeping between tries; `None`
    /// once `timeout` (if any) has passed.
    #[inline]
    pub(crate) fn wait<T>(
        &self,
        timeout: Option<Duration>,
        mut poll: impl FnMut() -> Option<T>,
    ) -> Option<T> {
        if let Some(item) = spin(&mut poll, timeout) {
            return Some(item);
        }
        // A timeout too large to represent is no timeout.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut guard = lock(&self.lock);
        loop {
            self.sleepers.fetch_add(1, Relaxed);
            fence(SeqCst);
            let item = poll();
            if item.is_some() {
                self.sleepers.fetch_sub(1, Relaxed);
                return item;
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_some_and(|left| left.is_zero()) {
                self.sleepers.fetch_sub(1, Relaxed);
                return None;
            }
            crate::sync::took!(EventWaiterSlept);
            guard = sleep(&self.cond, guard, left);
            self.sleepers.fetch_sub(1, Relaxed);
        }
    }
}

/// The first `Some` of `poll` within the short spin of [`crate::spin`]; one
/// try for a caller that may not wait (`timeout` zero).
#[inline]
pub(crate) fn spin<T>(
    poll: &mut impl FnMut() -> Option<T>,
    timeout: Option<Duration>,
) -> Option<T> {
    if timeout == Some(Duration::ZERO) {
        return poll();
    }
    crate::spin::until(poll)
}

/// Waits on `cond` (releasing `guard`) until notified, or at most `left`;
/// a poisoned lock is taken as it is (see [`lock`]).
pub(crate) fn sleep<'a, T>(
    cond: &Condvar,
    guard: MutexGuard<'a, T>,
    left: Option<Duration>,
) -> MutexGuard<'a, T> {
    match left {
        None => cond
            .wait(guard)
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
        Some(left) => {
            cond.wait_timeout(guard, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0
        }
    }
}
