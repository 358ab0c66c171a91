//! Requests from caller threads to a reactor, with doorbell coalescing.
//!
//! A caller pushes a request and rings the reactor's doorbell (a
//! `mio::Waker`, an eventfd, a completion packet) only when the reactor has drained its mailbox
//! since the last ring, so a burst of `send`s costs one wake-up syscall, not
//! one each.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Mailbox<T> {
    queue: Mutex<Vec<T>>,
    rung: AtomicBool,
}

impl<T> Mailbox<T> {
    pub(crate) fn new() -> Self {
        Self {
            queue: Mutex::new(Vec::new()),
            rung: AtomicBool::new(false),
        }
    }

    /// Queues `request`; true when the caller must ring the doorbell.
    #[must_use]
    pub(crate) fn post(&self, request: T) -> bool {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request);
        !self.rung.swap(true, Ordering::SeqCst)
    }

    /// Whether a request was posted since the last drain: a hint for a
    /// reactor deciding whether to sleep (the doorbell is what wakes it).
    pub(crate) fn is_rung(&self) -> bool {
        self.rung.load(Ordering::Relaxed)
    }

    /// Moves every queued request to `into`. Clears the doorbell first, so a
    /// request posted after the move rings again.
    pub(crate) fn drain(&self, into: &mut Vec<T>) {
        self.rung.store(false, Ordering::SeqCst);
        into.append(&mut self.queue.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

#[cfg(test)]
mod tests {
    use super::Mailbox;

    #[test]
    fn rings_once_per_drain() {
        let mailbox = Mailbox::new();
        assert!(mailbox.post(1));
        assert!(!mailbox.post(2));
        let mut got = Vec::new();
        mailbox.drain(&mut got);
        assert_eq!(got, [1, 2]);
        assert!(mailbox.post(3));
    }
}
