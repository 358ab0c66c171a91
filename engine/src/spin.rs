//! The short wait before a sleep: a thread that expects work within some
//! tens of microseconds polls for it that long, because putting a thread to
//! sleep and waking it costs more than that on a VM. Used
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
/// (1 to 64 spin hints) and yields the thread on the rest. More than
/// crossbeam's own limit (11, a few microseconds): a consumer that gives up
/// that early sleeps between most batches of a steady stream, and a round
/// trip between two nodes pays a wake-up at each end. The comparison is in
/// `docs/design.md#spinning-before-a-sleep`.
#[cfg(not(loom))]
pub const SNOOZES: usize = 27;
