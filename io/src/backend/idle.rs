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
//! Measured on the README's 2-vCPU AMD machine, binaries alternated:
//!
//! | | sleeping at once | polling first |
//! |---|---|---|
//! | io_uring, one session's round trip (`session` bench), 64 B | 250-300 us | 84-94 us (11 snoozes: 106-112) |
//! | io_uring, the same, 16 KiB | 275-310 us | 138-141 us (11 snoozes: 309-311) |
//! | io_uring, one session's bandwidth (`--mode bandwidth`) | 1,183-1,559 MiB/s | 1,358-2,117 MiB/s |
//! | io_uring, the load generator (256 sessions), paired runs | 1 | 0.86 and 0.91 (medians of 8 and 6 pairs; 11 snoozes: 0.95) |
//! | epoll, one session's round trip, 64 B / 16 KiB | 109 / 202-205 us | 64-80 / 86-114 us |
//! | epoll, one session's bandwidth | 1,418-1,871 MiB/s | 1,932-2,019 MiB/s |
//! | epoll, the load generator (verbs/s) | 141-176k | 347-356k |
//!
//! (io_uring figures from before its rings deferred their task work; for
//! what that changed, see `uring/ring.rs`.)
//!
//! So the epoll reactor always polls (it counts as awake meanwhile, and
//! merges the writes callers hand it then; see `poll.rs`), and the io_uring
//! one with [`Config::idle_poll`](super::Config::idle_poll), or for a few
//! turns after a send or receive of 16 KiB or more: a stream in bulk, where
//! the next burst is right behind and the many-session cost below does not
//! arise. That took one session's bandwidth over io_uring from 1,572-1,891
//! to 1,824-2,899 MiB/s (five rounds, binaries alternated; `--idle-poll`
//! in the same rounds 1,796-2,845), and left the 256-session load where it
//! was (paired runs 0.78-1.14, median 1.02). Under the
//! load generator an io_uring reactor's poll found work at once about 80%
//! of the time and after its first yield about 15%: a TP ran in its place
//! and kicked it, so the reactor took that TP's work alone where a sleeping
//! reactor, woken once, takes several TPs' work in one batch. Stopping the
//! poll when a yield was slow (someone else wanted the CPU), polling only
//! after small batches, and yielding without busy-waiting first all
//! measured no better.

/// True as soon as `ready` is, within the engine's short spin
/// ([`appc_engine::spin::until`], the one its waiting TPs use); false if
/// the reactor should sleep.
pub(crate) fn spin(mut ready: impl FnMut() -> bool) -> bool {
    appc_engine::spin::until(|| ready().then_some(())).is_some()
}
