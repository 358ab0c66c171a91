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
//! So the epoll reactor always polls (it counts as awake meanwhile, and
//! merges the writes callers hand it then; see `poll.rs`), and the io_uring
//! one with [`Config::idle_poll`](super::Config::idle_poll), or for a few
//! turns after a send or receive of 16 KiB or more: a stream in bulk, where
//! the next burst is right behind. With many sessions a polling io_uring
//! reactor is worse off: a TP that runs while it yields kicks it, and it
//! takes that TP's work alone, where a sleeping reactor, woken once, takes
//! several TPs' work in one batch; hence `idle_poll` is off by default.
//! What polling buys and costs on each backend, measured, is in
//! `docs/design.md#reactors-poll-before-they-sleep`.

/// True as soon as `ready` is, within the engine's short spin
/// ([`appc_engine::spin::until`], the one its waiting TPs use); false if
/// the reactor should sleep.
pub(crate) fn spin(mut ready: impl FnMut() -> bool) -> bool {
    appc_engine::spin::until(|| ready().then_some(())).is_some()
}
