//! How a listener waits after an accept that failed for want of
//! resources (no descriptor left: `EMFILE`, `ENFILE`; no memory): it
//! stops accepting for a while and tries again, the wait doubling from
//! [`FIRST`] up to [`LAST`] while the failures go on, and back to
//! [`FIRST`] after a success.
//!
//! Retrying at once spins: the pending connection stays in the backlog,
//! so the next accept fails the same way (io_uring re-armed its accept
//! after each failure and kept a core busy: `docs/design.md#accepting-out-of-descriptors`).
//! Not retrying at all loses the backlog: an edge-triggered epoll
//! listener gets no new readiness for connections that queued while
//! descriptors ran out, and they were never accepted once descriptors
//! were free again.

#[cfg(unix)]
use std::io;
use std::time::Duration;

/// The first wait after a failure.
pub(crate) const FIRST: Duration = Duration::from_millis(10);
/// The longest wait.
pub(crate) const LAST: Duration = Duration::from_secs(1);

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: FIRST }
    }
}

impl Backoff {
    /// An accept failed for want of resources: how long to wait.
    pub(crate) fn failed(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(LAST);
        wait
    }

    /// An accept succeeded.
    pub(crate) fn reset(&mut self) {
        self.next = FIRST;
    }
}

/// Whether an accept failed for want of resources (the connection stays
/// in the backlog: accepting again at once would fail again), as opposed
/// to a connection that went away before it was taken. (IOCP needs no
/// such test: its accepts fail before they are posted, for want of a
/// socket, or complete with a connection's own error.)
#[cfg(unix)]
pub(crate) fn starved(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::ENOBUFS)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_up_to_the_last_and_resets() {
        let mut backoff = Backoff::default();
        let waits: Vec<u64> = (0..9)
            .map(|_| backoff.failed().as_millis() as u64)
            .collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        backoff.reset();
        assert_eq!(backoff.failed(), FIRST);
    }

    #[cfg(unix)]
    #[test]
    fn out_of_descriptors_is_starved_a_reset_is_not() {
        assert!(starved(&io::Error::from_raw_os_error(libc::EMFILE)));
        assert!(!starved(&io::Error::from_raw_os_error(libc::ECONNABORTED)));
    }
}
