//! What every backend's reactors share: the user's [`Events`] (to make
//! each reactor's handler, and to hear of a reactor that failed), the
//! [`Links`] id table, the accept-error count and the stop flag.
//!
//! Stopping a backend sets the stop flag, wakes its reactors and joins them
//! ([`join_reactors`]). The flag is checked before every completion a
//! reactor handles, so one that is mid-batch delivers nothing more; the
//! join makes "no callback after the stop returns" hold. When the stop
//! comes *inside* a callback (on a reactor thread), that thread cannot join
//! itself: it is skipped and exits once its callback returns, calling
//! nothing further.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use super::links::Links;
use super::{Events, Handler, Waker};

/// See the module docs.
pub(crate) struct Sink {
    events: Arc<dyn Events>,
    pub(crate) links: Links,
    stopped: AtomicBool,
    /// [`Backend::accept_errors`](super::Backend::accept_errors).
    pub(crate) accept_errors: AtomicU64,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink")
            .field("links", &self.links)
            .field("stopped", &self.stopped)
            .finish_non_exhaustive()
    }
}

impl Sink {
    pub(crate) fn new(events: Arc<dyn Events>) -> Self {
        Self {
            events,
            links: Links::new(),
            stopped: AtomicBool::new(false),
            accept_errors: AtomicU64::new(0),
        }
    }

    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Reactor `index`'s handler (on the reactor's thread).
    pub(crate) fn handler(&self, index: usize, waker: Waker) -> Box<dyn Handler> {
        self.events.reactor(index, waker)
    }

    /// A reactor thread stopped on `reason`, a panic's message: logged, and
    /// told to the owner ([`Events::failed`]).
    pub(crate) fn failed(&self, reactor: &str, reason: &str) {
        tracing::error!(
            reactor,
            reason,
            "a reactor thread panicked: its links are lost"
        );
        if !self.is_stopped() {
            self.events.failed(reason);
        }
    }
}

/// Runs one turn of a reactor loop, catching a panic: `Ok(go_on)`, or the
/// panic's message (the reactor then reports it with [`Sink::failed`] and
/// stops, rather than dying half way with its links unreported).
pub(crate) fn turn(work: impl FnOnce() -> bool) -> Result<bool, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
        .map_err(|payload| crate::diag::panic_message(&*payload))
}

/// Joins the reactor threads, except the calling one (see the module docs).
pub(crate) fn join_reactors(threads: Vec<JoinHandle<()>>) {
    let me = thread::current().id();
    for handle in threads {
        if handle.thread().id() != me {
            // A reactor that panicked has already stopped; nothing to add.
            let _ = handle.join();
        }
    }
}
