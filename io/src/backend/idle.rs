//! How a reactor with nothing to do waits: it polls for work for some tens
//! of microseconds before it sleeps in the kernel.
//!
//! Waking a sleeping thread costs more than that on a VM, and a round trip
//! between two nodes wakes a reactor at each end at least once (the peer's
//! bytes; with io_uring also a TP's kick). The poll is only a hint: a reactor
//! that found nothing still sleeps in the same wait as before, which
//! whatever arrives after its last poll completes (a request rings the
//! doorbell, bytes make the socket ready), so nothing can be missed.
//!
//! Measured on the 2-vCPU machine of the README, binaries alternated:
//!
//! | | sleeping at once | polling first |
//! |---|---|---|
//! | io_uring, one session's round trip (`session` bench), 64 B | 250-300 us | 84-94 us (11 snoozes: 106-112) |
//! | io_uring, the same, 16 KiB | 275-310 us | 138-141 us (11 snoozes: 309-311) |
//! | io_uring, one session's bandwidth (`--mode bandwidth`) | 1,183-1,559 MiB/s | 1,358-2,117 MiB/s |
//! | io_uring, the load generator (256 sessions) | median 403k verbs/s | median 423k (six runs each: noise) |
//! | epoll, one session's round trip, 64 B / 16 KiB | 109 / 202-205 us | 64-80 / 86-114 us |
//! | epoll, one session's bandwidth | 1,418-1,871 MiB/s | 1,932-2,019 MiB/s |
//! | epoll, the load generator | 141-176k verbs/s | 347-356k verbs/s |
//!
//! (The epoll reactor counts as awake while it polls; see `poll.rs`.)

use crossbeam_utils::Backoff;

/// Polls before a reactor sleeps: crossbeam's `Backoff` busy-waits its
/// first 7 snoozes (1 to 64 spin hints) and yields the thread on the rest,
/// as a TP waiting for a completion does (the engine's `notify::SNOOZES`).
const SNOOZES: usize = 27;

/// True as soon as `ready` is, within [`SNOOZES`] tries; false if the
/// reactor should sleep.
pub(crate) fn spin(mut ready: impl FnMut() -> bool) -> bool {
    let backoff = Backoff::new();
    for _ in 0..SNOOZES {
        if ready() {
            return true;
        }
        backoff.snooze();
    }
    false
}
