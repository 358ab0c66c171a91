//! The reactor side of a backend that every backend shares: the user's
//! [`Events`], the [`Links`] table and the stop flag, so that each event is
//! delivered only while the backend is alive and only for a live link.
//!
//! Dropping a backend sets the stop flag, wakes its reactors and joins them
//! ([`join_reactors`]). The flag is checked before every callback, so a
//! reactor that is mid-batch delivers nothing more; the join makes "no event
//! after the drop returns" hold. When the last handle is dropped *inside* a
//! callback (on a reactor thread), that thread cannot join itself: it is
//! skipped and exits once its callback returns, delivering nothing further.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use super::links::Links;
use super::{Events, LinkId};

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
    pub(crate) fn new(events: Arc<dyn Events>, max_queued: usize) -> Self {
        Self {
            events,
            links: Links::new(max_queued),
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

    pub(crate) fn connected(&self, link: LinkId, peer: SocketAddr) {
        if !self.is_stopped() {
            self.events.connected(link, peer);
        }
    }

    /// Delivers `data` unless the link is already being closed (its bytes
    /// are of no use to a caller that dropped it).
    pub(crate) fn received(&self, link: LinkId, data: &[u8]) {
        if !self.is_stopped() && self.links.is_open(link) {
            self.events.received(link, data);
        }
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

    pub(crate) fn kicked(&self) {
        if !self.is_stopped() {
            self.events.kicked();
        }
    }

    /// Releases `link`'s id, then reports it gone: a `send` made from inside
    /// the callback already gets `NotConnected`.
    pub(crate) fn closed(&self, link: LinkId, error: Option<io::Error>) {
        self.links.release(link);
        if !self.is_stopped() {
            self.events.closed(link, error);
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
