//! The event target: the `WinAsyncAPPCEx` model.
//!
//! An [`Event`] is a Win32-style event object, auto-reset or manual-reset. A
//! finished task signals it; the application then fetches the finished verb
//! with [`Engine::collect`](crate::Engine::collect). One event may serve many
//! tasks, as `WaitForMultipleObjects` users do.
//!
//! `set` is one `SeqCst` swap (the RMW [`Notify`] pairs with) plus, only when
//! a thread sleeps, a lock to wake it. An auto-reset wait consumes the signal with one CAS.

use super::notify::Notify;
use crate::sync::{Arc, AtomicBool, Ordering::*};
use std::fmt;
use std::time::Duration;

struct Inner {
    signalled: AtomicBool,
    manual_reset: bool,
    notify: Notify,
}

/// A Win32-style event. Cheap to clone; clones are the same event.
#[derive(Clone)]
pub struct Event(Arc<Inner>);

impl Default for Event {
    /// A non-signalled auto-reset event (what the SDK samples create).
    fn default() -> Self {
        Self::new(false)
    }
}

impl Event {
    /// A non-signalled event; `manual_reset` as `CreateEvent`'s `bManualReset`.
    #[inline]
    pub fn new(manual_reset: bool) -> Self {
        Self(Arc::new(Inner {
            signalled: AtomicBool::new(false),
            manual_reset,
            notify: Notify::new(),
        }))
    }

    /// Signals the event (`SetEvent`).
    #[inline]
    pub fn set(&self) {
        if !self.0.signalled.swap(true, SeqCst) {
            self.0.notify.notify();
        }
    }

    /// Clears the signal (`ResetEvent`).
    #[inline]
    pub fn reset(&self) {
        self.0.signalled.store(false, Release);
    }

    /// True if signalled; does not consume an auto-reset signal.
    #[inline]
    pub fn is_set(&self) -> bool {
        self.0.signalled.load(Acquire)
    }

    /// Consumes the signal if there is one (a wait with timeout 0).
    #[inline]
    pub fn try_wait(&self) -> bool {
        if self.0.manual_reset {
            self.is_set()
        } else {
            self.0
                .signalled
                .compare_exchange(true, false, AcqRel, Relaxed)
                .is_ok()
        }
    }

    /// Waits until signalled (`WaitForSingleObject(h, INFINITE)`).
    #[inline]
    pub fn wait(&self) {
        self.0.notify.wait(None, || self.try_wait().then_some(()));
    }

    /// Waits at most `timeout`; false if it passed unsignalled.
    #[inline]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.0
            .notify
            .wait(Some(timeout), || self.try_wait().then_some(()))
            .is_some()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("signalled", &self.is_set())
            .field("manual_reset", &self.0.manual_reset)
            .finish()
    }
}
