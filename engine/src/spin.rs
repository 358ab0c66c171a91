//! The short wait before a sleep: a thread that expects work within some
//! tens of microseconds polls for it that long, because putting a thread to
//! sleep and waking it costs more than that on the machines measured. Used
//! by the engine's waiting consumers (queues, ports, events) and by
//! `appc-io`'s reactors (`backend::idle`), so both wait the same way.

/// The first `Some` of `poll`: tried once, then after each of [`SNOOZES`]
/// snoozes (growing busy-wait rounds, then yields; some tens of
/// microseconds in all). Under loom, one try.
#[inline]
pub fn until<T>(mut poll: impl FnMut() -> Option<T>) -> Option<T> {
    if let Some(item) = poll() {
        return Some(item);
    }
    #[cfg(not(loom))]
    {
        let backoff = crossbeam_utils::Backoff::new();
        for _ in 0..SNOOZES {
            backoff.snooze();
            if let Some(item) = poll() {
                return Some(item);
            }
        }
    }
    None
}

/// Tries in [`until`]: crossbeam's `Backoff` busy-waits its first 7 snoozes
/// (1 to 64 spin hints) and yields the thread on the rest. Measured on the
/// README's 2-vCPU AMD machine against crossbeam's own limit (11, about
/// 5 us), binaries alternated: a consumer that gives up that early sleeps
/// between most batches of a steady stream (cross-thread lifecycle bench,
/// whose completer then blocked between batches too: ~140 ns per request
/// here, ~340 with 11), and one session's round trip
/// over epoll takes 80-100 us instead of ~180. Over io_uring, whose
/// reactor threads then slept at once, that round trip took 193-210 us
/// instead of 159-206; reactors that poll as long before they sleep
/// (`appc-io`'s `backend::idle`) took it to 84-94 us. The load generator
/// (256 sessions) showed no difference.
#[cfg(not(loom))]
pub const SNOOZES: usize = 27;
